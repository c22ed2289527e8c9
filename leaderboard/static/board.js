// The board's tables: List.js (list.min.js, vendored) sorts and filters them. Each table box
// has <th data-sort="KEY"> headers and cells <td class="KEY" data-value="...">; rows carry
// data-text (what the search box matches) and data-<filter> attributes for the select filters.
(function () {
  "use strict";

  function blank(value) {
    return value === undefined || value === null || value === "";
  }

  // Numbers as numbers, text as text, blanks last whichever way the column is sorted
  // (List.js multiplies the result by -1 for a descending sort).
  function compare(a, b, options) {
    var x = a.values()[options.valueName];
    var y = b.values()[options.valueName];
    var direction = options.order === "desc" ? -1 : 1;
    if (blank(x) || blank(y)) {
      return blank(x) === blank(y) ? 0 : (blank(x) ? 1 : -1) * direction;
    }
    var nx = Number(x), ny = Number(y);
    if (!isNaN(nx) && !isNaN(ny)) {
      return nx - ny;
    }
    return String(x).localeCompare(String(y));
  }

  function setUp(box) {
    var names = [];
    box.querySelectorAll("th[data-sort]").forEach(function (th) {
      names.push({ name: th.getAttribute("data-sort"), attr: "data-value" });
    });
    var list = new List(box, { valueNames: names, sortFunction: compare, page: 100000 });
    var search = box.querySelector("input[data-search]");
    var filters = Array.prototype.slice.call(box.querySelectorAll("select[data-filter]"));
    var count = box.querySelector("[data-count]");

    function apply() {
      var text = search ? search.value.trim().toLowerCase() : "";
      list.filter(function (item) {
        var row = item.elm;
        for (var i = 0; i < filters.length; i++) {
          var wanted = filters[i].value;
          if (wanted && row.getAttribute("data-" + filters[i].getAttribute("data-filter")) !== wanted) {
            return false;
          }
        }
        return !text || (row.getAttribute("data-text") || "").indexOf(text) >= 0;
      });
      if (count) {
        count.textContent = list.matchingItems.length + " of " + list.items.length + " shown";
      }
    }

    if (search) search.addEventListener("input", apply);
    filters.forEach(function (select) { select.addEventListener("change", apply); });
    var toggle = box.querySelector("input[data-toggle-columns]");
    if (toggle) {
      toggle.addEventListener("change", function () {
        box.classList.toggle("show-all-columns", toggle.checked);
      });
    }
    apply();
  }

  document.querySelectorAll("[data-board-table]").forEach(setUp);
})();

"""Object detection: boxes and their COCO scores, annotation files, detectors and their resize."""

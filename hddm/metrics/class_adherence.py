"""Class adherence on a labelled image set: the share of images generated for a prompt that names a class which the
set's metric classifier (hddm.models.metric_classifier) reads as that class. An offline, data-specific stand-in for
CLIP score, named as such. Every result records the classifier's held-out accuracy beside it: what real images of
the classes score, the yardstick for the generated ones (which may be easier or harder to read)."""

METRIC_NAME = "class_adherence_metric_classifier"  # which class a prompt names: hddm.data.image_set.wanted_class

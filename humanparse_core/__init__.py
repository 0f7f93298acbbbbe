"""humanparse_core: the parts of humanparse_d2 that need only numpy and OpenCV.

The metric core (``humanparse_core.evaluation``), the submission reader/writer, parsing
post-processing (parsing NMS, the global map), dataset metadata, the image/label readers and the
synthetic human generator. Nothing here imports torch or detectron2, so the evaluation CLI, the
synthetic-data tool and the evaluation benchmarks start in a fraction of a second;
``humanparse_d2`` builds its detectron2 evaluators, loaders and models on top of these modules.
"""

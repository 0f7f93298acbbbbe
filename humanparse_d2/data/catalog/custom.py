"""Register your own parsing dataset: a folder of images plus same-stem label PNGs.

Example::

    from humanparse_d2.data import register_parsing_dataset
    register_parsing_dataset(
        "my_people_train", "data/imgs", "data/labels",
        classes=["background", "head", "torso", "left-arm", "right-arm"],
        flip_map=[(3, 4)],
        human_root="data/human_ids",            # optional: multi-person, person ids 1..N per pixel
        split_file="data/train.txt",            # optional: stems, one per line
    )
    # then cfg.DATASETS.TRAIN = ("my_people_train",) and cfg.INPUT.PARSING.MAPPER = "InstanceParsingMapper"

Label PNGs are single-channel id maps (values < len(classes), 255 = ignore). With ``human_root`` the
records carry one annotation per person id (box and RLE mask derived from the map, evaluator
"parsing"); without it each record is single-person (box = labelled foreground, evaluator "sem_seg")
unless ``single_person=False``.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

from detectron2.data import DatasetCatalog, MetadataCatalog

from humanparse_core.metadata import parsing_metadata

from .cihp import load_instance_folders
from .common import list_image_stems, read_ids, require_dir
from .lip import load_semantic_pairs

__all__ = ["register_parsing_dataset"]


def _folder_loader(
    name: str,
    image_root: Path,
    label_root: Path,
    *,
    num_classes: int,
    human_root,
    instance_root,
    split_file,
    single_person: bool,
) -> Callable[[], list[dict]]:
    """The DatasetCatalog function of a registered folder dataset (records tagged with ``name``)."""
    doc = f"  images: {image_root}/<stem>.jpg|png\n  labels: {label_root}/<stem>.png" + (
        f"\n  person ids: {human_root}/<stem>.png" if human_root else ""
    )

    def load():
        if human_root is not None:
            return load_instance_folders(
                image_root,
                label_root,
                human_root,
                instance_root,
                split_file,
                num_classes=num_classes,
                dataset_name=name,
                layout_doc=doc,
            )
        require_dir(image_root, name, doc)
        require_dir(label_root, name, doc)
        stems = read_ids(split_file) if split_file is not None else list_image_stems(image_root)
        return load_semantic_pairs(
            stems,
            image_root,
            label_root,
            num_classes=num_classes,
            dataset_name=name,
            with_person=single_person,
        )

    def load_tagged():
        dicts = load()
        for d in dicts:
            d["dataset_name"] = name
        return dicts

    return load_tagged


def register_parsing_dataset(
    name: str,
    image_root,
    label_root,
    *,
    classes: Sequence[str],
    colors: Sequence[Sequence[int]] | None = None,
    flip_map: Sequence[Sequence[int]] = (),
    human_root=None,
    instance_root=None,
    split_file=None,
    single_person: bool = True,
    evaluator_type: str | None = None,
) -> None:
    """Register ``name`` in DatasetCatalog and MetadataCatalog (idempotent for the same name).

    Args:
        name: dataset name used in ``cfg.DATASETS``.
        image_root: folder of images (jpg/png/bmp).
        label_root: folder of ``<stem>.png`` class-id maps.
        classes: C class names, background first.
        colors: C RGB triples (a generated palette by default).
        flip_map: (left, right) class-id pairs swapped on horizontal flips.
        human_root: optional folder of ``<stem>.png`` person-id maps (0 = background, 1..N).
        instance_root: optional folder of ``<stem>.png`` part-region maps + ``<stem>.txt``.
        split_file: optional list of stems; default every image in ``image_root``.
        single_person: without ``human_root``, add one person (the labelled foreground) per image.
        evaluator_type: override ("parsing" with human_root, else "sem_seg").
    """
    assert isinstance(name, str), name
    image_root, label_root = Path(image_root), Path(label_root)
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(
        name,
        _folder_loader(
            name,
            image_root,
            label_root,
            num_classes=len(classes),
            human_root=human_root,
            instance_root=instance_root,
            split_file=split_file,
            single_person=single_person,
        ),
    )
    ev = evaluator_type or ("parsing" if human_root is not None else "sem_seg")
    MetadataCatalog.get(name).set(
        **parsing_metadata(
            classes,
            colors,
            flip_map,
            evaluator_type=ev,
            image_root=str(image_root),
            dataset_root=str(image_root.parent),
            box_source_default="gt" if ev == "sem_seg" else "detector",
        )
    )

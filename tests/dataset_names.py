"""The dataset names one `import humanparse_d2` registers (tests/engine, tests/data)."""

DATASET_NAMES = [
    "cihp_train",
    "cihp_val",
    "mhp_v2_train",
    "mhp_v2_val",
    "lip_train",
    "lip_val",
    "pascal_person_part_train",
    "pascal_person_part_test",
    "ppss_train",
    "ppss_test",
    "synth_humans_train",
    "synth_humans_val",
    "synth_lip_train",
    "synth_lip_val",
]
# parsing classes (background included) of each dataset family: the name less its split suffix
NUM_PARSING = {
    "cihp": 20,
    "mhp_v2": 59,
    "lip": 20,
    "pascal_person_part": 7,
    "ppss": 8,
    "synth_humans": 20,
    "synth_lip": 20,
}

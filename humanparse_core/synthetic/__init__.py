"""Procedural synthetic humans written in the CIHP (multi-person) or LIP (single-person) layout.

Each person is a 2-D articulated figure (:mod:`.figure`): head (face, hair, optional hat /
sunglasses), neck, torso clothes (upper-clothes, coat, dress or LIP jumpsuit, optional torso skin
and scarf), two arms with sleeves and optional gloves, two legs with pants / shorts / skirt, socks
and shoes, painted with the sub-pixel fills of :mod:`.primitives`. Poses (arm and leg angles, elbow
and knee bends, body lean, 3/4 yaw), sizes, colours and textures are random (:mod:`.attributes`). A
person faces the camera (face visible) or shows the back (head all hair); the person's LEFT arm, leg
and shoe are on the image RIGHT in a frontal view and on the image left in a back view, so a
horizontal flip without swapping the left/right labels produces visibly wrong labels.

Scenes (:mod:`.scene`): 1-5 persons (CIHP layout) painted back to front, so nearer persons occlude
farther ones, on cluttered backgrounds (gradients, floor, random textured shapes, limb-like sticks
in skin and clothing colours). Labels are painted first and the image is rendered from them, so
every foreground pixel carries exactly the drawn class (no unlabelled person pixels).

Writer (:mod:`.writer`): image ``i`` of (layout, split, seed) uses
``np.random.default_rng([seed, layout, split, i])``, so results do not depend on the number of
worker processes.
"""

from .attributes import NUM_CLASSES
from .scene import render_person_crop, render_scene
from .writer import GENERATOR_VERSION, SYNTH_DEFAULTS, ensure_synthetic, generate_dataset

__all__ = [
    "render_scene",
    "render_person_crop",
    "generate_dataset",
    "ensure_synthetic",
    "SYNTH_DEFAULTS",
    "GENERATOR_VERSION",
    "NUM_CLASSES",
]

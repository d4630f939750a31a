"""Export 2D gazesam sessions and mask files as one COCO JSON (instance annotations with RLE masks).

  gazesam export-coco SESSION_DIR... --out masks.json
  gazesam export-coco --mask image.jpg mask.png --mask other.jpg other_mask.png --category polyp --out masks.json

Each session gives one COCO image (its image's file name) and one annotation per label that has pixels, the
category being the label's name; each --mask pair gives one image and one annotation of --category. Volume
sessions are refused (COCO holds 2D images; use segment-volume --format dicom-seg or seg-nrrd for volumes).
"""

from __future__ import annotations

import argparse
from gazesam.session.coco import CocoBuilder, add_mask_file, add_session
from gazesam.core.errors import InputError
from gazesam.core.outputs import check_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sessions", nargs="*", metavar="SESSION_DIR", help="saved 2D session folders")
    p.add_argument("--mask", nargs=2, action="append", default=[], metavar=("IMAGE", "MASK"),
                   help="an image and its 0/255 mask PNG (repeatable)")
    p.add_argument("--category", default="object", help="category of the --mask masks (default: object)")
    p.add_argument("--out", required=True, metavar="FILE.json", help="COCO JSON to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")


def run(args: argparse.Namespace) -> int:

    if not args.sessions and not args.mask:
        raise InputError("nothing to export: give session folders and/or --mask IMAGE MASK")
    out = check_output(args.out, inputs=[*args.sessions, *(f for pair in args.mask for f in pair)],
                       force=args.force, what="COCO file")
    builder = CocoBuilder()
    for folder in args.sessions:
        add_session(builder, folder)
    for image, mask in args.mask:
        add_mask_file(builder, image, mask, args.category)
    builder.write(out)
    print(f"wrote {out}: {len(builder.images)} image(s), {len(builder.annotations)} annotation(s), "
          f"{len(builder.categories)} categor{'y' if len(builder.categories) == 1 else 'ies'}")
    return 0

# Builds every packse scenario into a static PEP 503 index with packse's own code (the same
# `build` and `render_index` that `packse index build` runs, without its development-only
# vendor copy): OUT/index/simple/<project>/index.html, OUT/index/files/<dist>, and
# OUT/scenarios.json (what `packse inspect --no-hash` prints). Names carry no hash, as in
# uv's scenario tests: `<scenario>-<package>`.
# Usage: python packse_build.py SCENARIOS_DIR OUT_DIR
import json
import pathlib
import sys

from packse.build import build
from packse.index import render_index
from packse.inspect import variables_for_templates

scenarios, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
build([scenarios], rm_destination=True, short_names=False, no_hash=True, skip_root=True, dist_dir=out / "dist", build_dir=out / "build")
render_index([scenarios], no_hash=True, short_names=False, dist_dir=out / "dist", index_dir=out / "index", exist_ok=False)
(out / "index" / "simple-html").rename(out / "index" / "simple")
(out / "scenarios.json").write_text(json.dumps(variables_for_templates([scenarios], no_hash=True), indent=1))

"""Render generated/README.md's Mermaid diagrams in headless Chromium: check them all, screenshot one.

    python tools/render_mermaid.py --mermaid /tmp/m/node_modules/mermaid --stem residual --png residual.png

Needs a Chromium (Debian: ``apt-get install chromium``) and the mermaid npm package installed
somewhere outside the repository (``npm install mermaid`` in a temporary folder); neither is a
dependency of codegen, so neither is in CI. Exit status 0 when every diagram rendered to an SVG
without a Mermaid error and the screenshot was written, 1 otherwise.

It reads the diagrams from the page itself (``codegen.overview.sections_of``), puts them in a
local HTML page that loads mermaid.min.js with ``securityLevel: "strict"``, and runs Chromium
twice: ``--dump-dom`` to see that each diagram became an SVG (a syntax error renders as an
error SVG, which is counted too), and ``--screenshot`` for one block, to look at.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen import overview  # noqa: E402

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",  # let mermaid's asynchronous rendering finish before the dump or the shot
]

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>codegen diagrams</title>
<style>body {{ font-family: sans-serif; margin: 16px; background: white; }} h2 {{ font-size: 16px; }}</style>
<script src="{script}"></script></head>
<body>
{figures}
<script>
mermaid.initialize({{ startOnLoad: false, securityLevel: "strict", theme: "default" }});
mermaid.run({{ querySelector: "pre.mermaid" }}).then(
  () => {{ document.body.setAttribute("data-rendered", "yes"); }},
  (error) => {{ document.body.setAttribute("data-rendered", "error: " + error); }});
</script>
</body></html>
"""


def diagrams(readme: Path) -> dict[str, str]:
    found = {}
    for stem, (_, text) in overview.sections_of(readme.read_bytes()).items():
        match = re.search(r"^```mermaid\n(.*?)\n```$", text, re.M | re.S)
        if match:
            found[stem] = match.group(1)
    return found


def page(folder: Path, script: Path, sources: dict[str, str]) -> Path:
    figures = "\n".join(
        f'<section id="{stem}"><h2>{html.escape(stem)}</h2><pre class="mermaid">{html.escape(source)}</pre></section>'
        for stem, source in sources.items()
    )
    shutil.copy(script, folder / "mermaid.min.js")  # beside the page: file:// loads it without a server
    path = folder / "page.html"
    path.write_text(PAGE.format(script="mermaid.min.js", figures=figures), encoding="utf-8")
    return path


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "generated" / "README.md")
    parser.add_argument("--mermaid", type=Path, required=True, help="the installed mermaid npm package's folder")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--stem", default="residual", help="the block to screenshot")
    parser.add_argument("--png", type=Path, default=Path("diagram.png"))
    parser.add_argument("--size", default="900,1300", help="window size for the screenshot, WIDTH,HEIGHT")
    args = parser.parse_args()

    script = args.mermaid / "dist" / "mermaid.min.js"
    sources = diagrams(args.readme)
    if args.stem not in sources:
        print(f"no diagram for {args.stem!r} in {args.readme}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "all").mkdir()
        everything = page(work / "all", script, sources)
        dom = chromium(args.chromium, work / "profile-1", "--dump-dom", everything.as_uri()).stdout
        rendered = re.search(r'data-rendered="([^"]*)"', dom)
        svgs = re.findall(r'<svg[^>]*aria-roledescription="([^"]+)"', dom)
        failed = dom.count("Syntax error") + sum(1 for kind in svgs if kind == "error")
        print(f"rendered: {rendered.group(1) if rendered else 'no'}; {len(svgs)} SVGs for {len(sources)} diagrams "
              f"({', '.join(sorted(set(svgs)))}); {failed} with a Mermaid error")
        ok = rendered is not None and rendered.group(1) == "yes" and len(svgs) == len(sources) and not failed

        (work / "one").mkdir()
        single = page(work / "one", script, {args.stem: sources[args.stem]})
        shot = chromium(args.chromium, work / "profile-2", f"--screenshot={args.png.resolve()}",
                        f"--window-size={args.size}", single.as_uri())
        if not args.png.exists():
            print(shot.stderr[-2000:], file=sys.stderr)
            return 1
        print(f"screenshot of {args.stem}: {args.png} ({args.png.stat().st_size:,} bytes)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

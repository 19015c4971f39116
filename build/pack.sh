#!/usr/bin/env bash
# Build the single-file executable dist/docker-watcher with PyInstaller. Like `nicegui-pack`, it
# adds NiceGUI's package as data (its static files); unlike it, PyInstaller's work and spec files
# go to .pyinstaller/ so they never mix with this build/ folder.
#   bash build/pack.sh   →   dist/docker-watcher   (same commands as `python -m app`: run | keygen)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
root=$PWD
nicegui_dir=$(.venv/bin/python -c 'import nicegui, pathlib; print(pathlib.Path(nicegui.__file__).parent)')
.venv/bin/pyinstaller --noconfirm --clean --onefile --name docker-watcher \
  --add-data "$nicegui_dir:nicegui" \
  --add-data "$root/services/store/migrations:services/store/migrations" \
  --paths "$root" --collect-submodules app --collect-submodules services \
  --collect-submodules pages \
  --workpath .pyinstaller/work --distpath dist --specpath .pyinstaller \
  build/entry.py
echo "built dist/docker-watcher"

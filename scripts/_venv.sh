# Sourced by scripts/run, scripts/test and scripts/lock: makes .venv (Python >= 3.11) and installs Parley
# into it from the dependency lock (requirements/*.lock, with hashes) whenever the lock or pyproject.toml
# changed since the last install. Usage: ensure_venv base|dev
ensure_venv() {
    local extras=$1 python stamp want
    if [ ! -x .venv/bin/python ]; then
        for python in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
            [ -n "$python" ] && command -v "$python" >/dev/null 2>&1 || continue
            if "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
                echo "creating .venv with $("$python" --version)" >&2
                "$python" -m venv .venv
                break
            fi
        done
        if [ ! -x .venv/bin/python ]; then
            echo "Parley needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
            exit 2
        fi
    fi
    want=$(cat pyproject.toml "requirements/$extras.lock" | sha256sum | cut -d' ' -f1)
    stamp=.venv/.parley-$extras
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "installing Parley ($extras) into .venv from requirements/$extras.lock" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
            -r "requirements/$extras.lock"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
        echo "$want" > "$stamp"
    fi
}

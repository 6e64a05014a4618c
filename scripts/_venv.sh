# Sourced by scripts/run and scripts/test: makes .venv (Python >= 3.11) and installs the project into it
# when pyproject.toml changed since the last install. Usage: ensure_venv base|dev
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
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    stamp=.venv/.parley-$extras
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "installing Parley ($extras) into .venv" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        if [ "$extras" = dev ]; then
            .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
            echo "$want" > .venv/.parley-base
        else
            .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
        fi
        echo "$want" > "$stamp"
    fi
}

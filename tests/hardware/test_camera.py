"""Cameras, fed by a video file and images the tests make with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware.camera import OpenCVCamera, SimulatedCamera, read_media
from hardware.errors import DeviceNotFoundError, DeviceTimeoutError

from .conftest import COLOURS_RGB, GUARD, nearest_colour, wait_until, write_video


def test_every_frame_of_the_video_is_decoded_as_rgb(video: Path) -> None:
    frames = list(read_media(video))
    assert len(frames) == len(COLOURS_RGB)
    # read_media hands OpenCV's BGR on; the cameras turn it into RGB (next test)
    assert [nearest_colour(f[24, 32][::-1]) for f in frames] == COLOURS_RGB


def test_the_simulated_camera_plays_the_video_once_in_order(video: Path) -> None:
    camera = SimulatedCamera(video, fps=25, loop=False)
    frames = list(camera.frames())  # ends by itself: loop=False
    indices = [f.index for f in frames]
    colours = [nearest_colour(f.image[24, 32]) for f in frames]
    assert indices == sorted(set(indices))
    # a slow consumer may skip frames, never reorder them, and always sees the last one
    assert colours == [c for c in COLOURS_RGB if c in colours]
    assert colours[-1] == COLOURS_RGB[-1] and indices[-1] == len(COLOURS_RGB) - 1
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    assert camera.status == "ended"
    assert camera.latest() is frames[-1]


def test_the_simulated_camera_loops(video: Path) -> None:
    with SimulatedCamera(video, fps=100, loop=True) as camera:
        wait_until(
            lambda: (f := camera.latest()) is not None and f.index > 2 * len(COLOURS_RGB),
            "a second loop",
        )
        assert camera.status == "streaming"
    assert camera.status == "closed"


def test_the_simulated_camera_plays_a_folder_and_a_list_of_images(tmp_path: Path) -> None:
    paths = []
    for index, rgb in enumerate(COLOURS_RGB[:3]):
        paths.append(tmp_path / f"{index}.png")
        cv2.imwrite(str(paths[-1]), np.full((20, 30, 3), rgb[::-1], np.uint8))
    for source in (tmp_path, paths[::-1]):
        with SimulatedCamera(source, fps=50, loop=False) as camera:
            colours = [nearest_colour(f.image[5, 5]) for f in camera.frames()]
        expected = COLOURS_RGB[:3] if source == tmp_path else COLOURS_RGB[:3][::-1]
        assert colours[-1] == expected[-1]
        assert colours == [c for c in expected if c in colours]


def test_a_wrong_simulation_path_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFoundError, match="cannot open the video"):
        SimulatedCamera(tmp_path / "missing.avi")
    with pytest.raises(DeviceNotFoundError, match="no images"):
        SimulatedCamera(tmp_path)


def test_the_opencv_camera_reconnects_when_its_source_comes_back(tmp_path: Path) -> None:
    source = tmp_path / "unplugged.avi"
    camera = OpenCVCamera(str(source), fps=50, reconnect_delay=0.05)
    try:
        wait_until(lambda: camera.status == "disconnected", "the camera to notice it is missing")
        assert camera.latest() is None  # the UI thread gets an answer, at once
        with pytest.raises(DeviceTimeoutError):
            camera.next_frame(timeout=0.2)
        write_video(source)  # "plugged in"
        frame = camera.next_frame(timeout=GUARD)
        assert frame.image.shape == (48, 64, 3)
        # a file source ends like an unplugged camera: it must come back again
        first_index = frame.index
        wait_until(
            lambda: (f := camera.latest()) is not None and f.index > first_index + len(COLOURS_RGB),
            "a reconnection after the end of the source",
        )
    finally:
        camera.close()
    assert camera.status == "closed"
    assert list(camera.frames()) == []  # a closed camera's iterator ends at once


def test_a_frame_saves_as_an_image(video: Path, tmp_path: Path) -> None:
    with SimulatedCamera(video, fps=50) as camera:
        frame = camera.next_frame(timeout=GUARD)
    saved = cv2.imread(str(frame.save(tmp_path / "photo.png")))
    assert saved is not None
    assert saved.shape == frame.image.shape
    assert nearest_colour(saved[24, 32][::-1]) == nearest_colour(frame.image[24, 32])

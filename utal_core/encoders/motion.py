"""Motion view: dense optical flow (OpenCV DIS) on the decode pass's low-resolution fine frames,
with the camera's motion taken out.

For every pair of consecutive fine frames (about 8 per second, see ``features.fine_stream``):

1. DIS flow between the grey frames (``preset``, ultrafast by default);
2. camera motion: a similarity transform (rotation, zoom, translation) fitted with RANSAC
   (``cv2.estimateAffinePartial2D``) to the flow on a sparse point grid; the *residual* flow (flow
   minus the camera's) is what moves in the scene;
3. a row of :data:`PAIR_FEATURES`, with speeds in frame short sides per second, so that neither the
   motion resolution nor the sampling rate changes the values.

Statistics leave out a border of ``border`` of each side, where a pan brings in new content whose
flow is undefined. Per snippet (pairs whose midpoint lies in its window): the mean of the pair rows,
speeds compressed as ``log1p(v / SPEED_UNIT)``, plus the spread over the window of the foreground
speed (:data:`FEATURE_NAMES`, 32 dims). Extras:

- ``motion_energy`` [T]: mean residual speed of the frame interior (short sides per second): the
  compensated foreground motion, "how much is moving" (0 on a static scene and on a pure pan);
- ``motion_fine`` [T, FINE_BINS]: the same in FINE_BINS equal sub-windows of each snippet's window,
  for placing a boundary inside a snippet;
- ``motion_difference`` [T]: mean absolute grey-level difference (0-1) of consecutive frames after
  the previous frame is warped by the camera's motion: the view's evidence of action
  (model/evidence.py). Dense and pixel-exact, it keeps short bursts (a collision among moving cars)
  that the sparser flow statistics smooth over, and the camera's own motion is taken out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..grid import SnippetGrid
from .base import (EncodedBatch, EncoderConfig, Fingerprint, StreamAccumulator, StreamEncoder, pool_at,
                   pool_onto_grid, register_encoder)

#: ``ViewFeatures.extras`` keys of the motion encoder's side outputs.
MOTION_ENERGY_KEY = "motion_energy"
MOTION_FINE_KEY = "motion_fine"
MOTION_DIFFERENCE_KEY = "motion_difference"
#: Sub-windows per snippet of ``extras["motion_fine"]``.
FINE_BINS = 4
ORIENTATION_BINS = 8
SPATIAL_CELLS = 3
#: Speeds (short sides per second) are given to the model as log1p(v / SPEED_UNIT).
SPEED_UNIT = 0.05
#: Residual speeds above which a pixel counts as moving (short sides per second).
MOVING_THRESHOLDS = (0.05, 0.2)
PAIR_FEATURES: tuple[str, ...] = (
    "residual_mean", "residual_std", "residual_p50", "residual_p90", "residual_p99",
    *(f"moving_fraction_{t:g}" for t in MOVING_THRESHOLDS),
    *(f"orientation_{k}" for k in range(ORIENTATION_BINS)),
    *(f"cell_{r}{c}" for r in range(SPATIAL_CELLS) for c in range(SPATIAL_CELLS)),
    "camera_speed", "camera_rotation", "camera_zoom", "camera_inliers", "flow_mean",
    "frame_difference", "compensated_difference",
)
#: Pair features that are speeds (log-compressed in the snippet features).
SPEED_FEATURES: tuple[str, ...] = (
    "residual_mean", "residual_std", "residual_p50", "residual_p90", "residual_p99",
    *(f"cell_{r}{c}" for r in range(SPATIAL_CELLS) for c in range(SPATIAL_CELLS)), "camera_speed", "flow_mean",
)
FEATURE_NAMES: tuple[str, ...] = (*PAIR_FEATURES, "residual_mean_spread")
_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


@dataclass
class MotionConfig(EncoderConfig):
    """Optical-flow settings (the motion frames' size and rate are the decode pass's fine stream)."""

    #: DIS preset: "ultrafast", "fast" or "medium".
    preset: str = "ultrafast"
    #: Fraction of each side left out of the statistics.
    border: float = 0.08
    #: RANSAC inlier distance of the camera fit, in pixels of the motion frames.
    ransac_threshold_px: float = 1.0
    #: Spacing (pixels) of the point grid the camera motion is fitted to.
    point_step: int = 4


@register_encoder("motion")
class MotionEncoder(StreamEncoder):
    """Camera-compensated DIS optical-flow statistics per snippet (needs only OpenCV, no weights)."""

    view = "motion"
    config_class = MotionConfig

    def __init__(self, config: MotionConfig) -> None:
        super().__init__(config)
        self.config: MotionConfig = config
        if config.preset not in _PRESETS:
            self.unavailable_reason = f"unknown DIS preset {config.preset!r}; choose from {', '.join(_PRESETS)}"
            return
        try:
            import cv2  # noqa: F401
        except ImportError:
            self.unavailable_reason = "OpenCV is not installed (pip install opencv-python-headless)"

    @property
    def dim(self) -> int:
        return len(FEATURE_NAMES)

    @property
    def fingerprint(self) -> Fingerprint:
        c = self.config
        # "difference": the features carry extras["motion_difference"] (cached features from before do not).
        return Fingerprint(self.name, "", params=f"dis-{c.preset}|{c.border}|{c.ransac_threshold_px}|{c.point_step}|difference")

    def open(self, grid: SnippetGrid) -> "MotionAccumulator":
        self.require_available()
        return MotionAccumulator(self, grid)


class MotionAccumulator(StreamAccumulator):
    """Flow of each consecutive pair of fine frames, pooled onto the grid at the end."""

    def __init__(self, encoder: MotionEncoder, grid: SnippetGrid) -> None:
        import cv2

        self.encoder, self.config, self.grid = encoder, encoder.config, grid
        self.flow = cv2.DISOpticalFlow_create(_PRESETS[self.config.preset])
        self.previous: np.ndarray | None = None
        self.previous_time = 0.0
        self.rows: list[np.ndarray] = []
        self.times: list[float] = []
        self._geometry: _Geometry | None = None

    def add(self, frames: np.ndarray, times: np.ndarray) -> None:
        import cv2

        for frame, time in zip(frames, times):
            grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
            if self.previous is not None and time > self.previous_time:
                self.encoder.calls += 1
                self.rows.append(self._pair(self.previous, grey, time - self.previous_time))
                self.times.append((time + self.previous_time) / 2)
            self.previous, self.previous_time = grey, float(time)

    def _pair(self, previous: np.ndarray, current: np.ndarray, seconds: float) -> np.ndarray:
        import cv2

        if self._geometry is None or self._geometry.shape != current.shape:
            self._geometry = _Geometry(current.shape, self.config)
        g = self._geometry
        flow = self.flow.calc(previous, current, None)
        camera, inliers = _fit_camera(flow, g, self.config.ransac_threshold_px)
        to_speed = 1.0 / (g.short_side * seconds)
        flow_x, flow_y = flow[..., 0][g.inner].ravel(), flow[..., 1][g.inner].ravel()
        residual_x = (flow_x - (camera[0, 0] - 1) * g.inner_x - camera[0, 1] * g.inner_y - camera[0, 2]) * to_speed
        residual_y = (flow_y - camera[1, 0] * g.inner_x - (camera[1, 1] - 1) * g.inner_y - camera[1, 2]) * to_speed
        speed = np.hypot(residual_x, residual_y)
        warped = cv2.warpAffine(previous, camera.astype(np.float64), (current.shape[1], current.shape[0]),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        camera_shift = np.hypot(*(camera[:, :2] @ g.centre + camera[:, 2] - g.centre))
        angle = np.arctan2(residual_y, residual_x)
        orientation = np.bincount(((angle + np.pi) / (2 * np.pi) * ORIENTATION_BINS).astype(np.int64) % ORIENTATION_BINS,
                                  weights=speed, minlength=ORIENTATION_BINS)
        cells = np.bincount(g.cell_index, weights=speed, minlength=SPATIAL_CELLS ** 2) / g.cell_sizes
        inner_current = current[g.inner].astype(np.float32)
        return np.concatenate([
            [speed.mean(), speed.std(), *_quantiles(speed, (0.5, 0.9, 0.99))],
            [(speed > threshold).mean() for threshold in MOVING_THRESHOLDS],
            orientation / max(orientation.sum(), 1e-9),
            cells,
            [camera_shift * to_speed, np.arctan2(camera[1, 0], camera[0, 0]) / seconds,
             np.log(max(np.hypot(camera[0, 0], camera[1, 0]), 1e-6)) / seconds, inliers,
             np.hypot(flow_x, flow_y).mean() * to_speed,
             np.abs(inner_current - previous[g.inner]).mean() / 255.0,
             np.abs(inner_current - warped[g.inner]).mean() / 255.0],
        ]).astype(np.float32)

    def finish(self) -> EncodedBatch:
        grid = self.grid
        if not self.rows:  # a single fine frame: nothing moves that can be seen
            zeros = np.zeros((grid.num_snippets, len(FEATURE_NAMES)), np.float32)
            return EncodedBatch(zeros, {MOTION_ENERGY_KEY: zeros[:, 0].copy(), MOTION_DIFFERENCE_KEY: zeros[:, 0].copy(),
                                        MOTION_FINE_KEY: np.zeros((grid.num_snippets, FINE_BINS), np.float32)})
        rows, times = np.stack(self.rows), np.asarray(self.times)
        energy = rows[:, 0]
        pooled = pool_onto_grid(np.column_stack([rows, energy ** 2]), times, grid)
        means, mean_square = pooled[:, :-1], pooled[:, -1]
        spread = np.sqrt(np.maximum(mean_square - means[:, 0] ** 2, 0.0))
        features = np.column_stack([means, spread])
        speed_columns = [FEATURE_NAMES.index(name) for name in (*SPEED_FEATURES, "residual_mean_spread")]
        features[:, speed_columns] = np.log1p(features[:, speed_columns] / SPEED_UNIT)
        return EncodedBatch(features.astype(np.float32),
                            {MOTION_ENERGY_KEY: means[:, 0].astype(np.float32),
                             MOTION_DIFFERENCE_KEY: means[:, PAIR_FEATURES.index("compensated_difference")].astype(np.float32),
                             MOTION_FINE_KEY: fine_bins(energy, times, grid)})


def fine_bins(values: np.ndarray, times: np.ndarray, grid: SnippetGrid, bins: int = FINE_BINS) -> np.ndarray:
    """[T, bins]: the mean of ``values`` (taken at sorted ``times``) in ``bins`` equal sub-windows of
    each snippet's window (nearest value where a sub-window holds none)."""
    centres, width = grid.sub_windows(bins)
    return pool_at(values, times, centres.ravel(), width / 2).reshape(grid.num_snippets, bins)


def _quantiles(values: np.ndarray, fractions: tuple[float, ...]) -> np.ndarray:
    """Lower quantiles by partial sort (np.percentile costs more than the optical flow here)."""
    ranks = [int(fraction * (len(values) - 1)) for fraction in fractions]
    return np.partition(values, ranks)[ranks]


class _Geometry:
    """Pixel coordinates, the interior mask, spatial cells and the camera-fit point grid of one frame size."""

    def __init__(self, shape: tuple[int, int], config: MotionConfig) -> None:
        height, width = shape
        self.shape = shape
        self.short_side = float(min(height, width))
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.centre = np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
        margin_y, margin_x = int(round(config.border * height)), int(round(config.border * width))
        # Statistics read every other pixel of the interior: flow is smooth, and it is 4x cheaper.
        self.inner = (slice(margin_y, height - margin_y, 2), slice(margin_x, width - margin_x, 2))
        inner_y, inner_x = y[self.inner], x[self.inner]
        self.inner_y, self.inner_x = inner_y.ravel(), inner_x.ravel()
        rows = np.minimum(((inner_y - margin_y) / max(height - 2 * margin_y, 1) * SPATIAL_CELLS).astype(np.int64), SPATIAL_CELLS - 1)
        cols = np.minimum(((inner_x - margin_x) / max(width - 2 * margin_x, 1) * SPATIAL_CELLS).astype(np.int64), SPATIAL_CELLS - 1)
        self.cell_index = (rows * SPATIAL_CELLS + cols).ravel()
        self.cell_sizes = np.maximum(np.bincount(self.cell_index, minlength=SPATIAL_CELLS ** 2), 1)
        step = max(1, config.point_step)
        self.points_y, self.points_x = np.mgrid[step // 2:height:step, step // 2:width:step]
        self.points = np.column_stack([self.points_x.ravel(), self.points_y.ravel()]).astype(np.float32)


def _fit_camera(flow: np.ndarray, geometry: _Geometry, threshold_px: float) -> tuple[np.ndarray, float]:
    """A 2x3 similarity mapping previous-frame points to current-frame points, and its inlier fraction;
    the median flow as a pure translation when RANSAC finds no model."""
    import cv2

    moved = geometry.points + flow[geometry.points_y, geometry.points_x].reshape(-1, 2)
    matrix, inliers = cv2.estimateAffinePartial2D(geometry.points, moved, method=cv2.RANSAC,
                                                  ransacReprojThreshold=threshold_px, maxIters=500, confidence=0.99)
    if matrix is None:
        shift = np.median(flow.reshape(-1, 2), axis=0)
        return np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]], np.float32), 0.0
    return matrix.astype(np.float32), float(inliers.mean())

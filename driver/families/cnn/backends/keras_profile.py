"""Profiling backend of the CNN family: times a network's inference on this machine's CPU
with Keras on TensorFlow, in-process.

Why TensorFlow: it is the fast CPU engine here (JAX/XLA CPU inference is 2-5x slower), so
the runtimes are the ones a user of the network would see; the family's analysis uses
TensorFlow's own XLA for the compiled program, so one framework serves both and no JAX is
needed on the CPU path.

Protocol (stable on a busy 2-core machine, where wall-clock medians move 2x between
processes): one intra-op and one inter-op thread (``backend.settings.threads``), the
network built once per worker and kept (the last few by (network, resolution)),
``warmups`` untimed calls, then ``repeats`` samples timed with ``time.process_time`` (CPU
time of this process), each of as many calls as last ``min_sample_seconds`` (one call
when a call takes longer); ``seconds`` is the median per call. The spread, (q75 - q25) / median,
above ``max_spread`` times the point again once, then fails it (kind ``noisy``). The note of
every evaluation records the protocol, the spread and the clock used.

``cycles`` are derived, not counted (no hardware counter is readable in this VM): CPU
seconds x the core clock the machine reports (``/proc/cpuinfo``'s cpu MHz, else sysfs'
cpuinfo_max_freq).
"""
from __future__ import annotations

import math
import statistics
import time
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

from ....errors import EvaluationFailed
from ...backend import Backend as _Base
from .. import run_of

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

KEEP_MODELS = 4  # networks a worker keeps built


@lru_cache(maxsize=1)
def core_clock_hz() -> tuple[float, str]:
    """The core clock this machine reports, and where it was read (once per process: the
    reported MHz drift by a few between reads, and one study needs one clock)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("cpu mhz"):
                return float(line.split(":")[1]) * 1e6, "/proc/cpuinfo cpu MHz"
    except (OSError, ValueError, IndexError):
        pass
    sysfs = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        return float(sysfs.read_text()) * 1e3, str(sysfs)
    except (OSError, ValueError):
        raise EvaluationFailed("no core clock readable (/proc/cpuinfo, sysfs): cycles "
                               "cannot be derived", "error") from None


def spread(times: list[float]) -> float:
    """(q75 - q25) / median of timed calls."""
    q = statistics.quantiles(times, n=4)
    return (q[2] - q[0]) / statistics.median(times)


def time_calls(function, x, warmups: int, repeats: int,
               min_sample_s: float) -> tuple[list[float], int]:
    """CPU seconds per call of ``repeats`` samples after ``warmups`` untimed calls (more,
    up to 10x, until they last two samples), and
    the calls per sample: as many as make a sample last ``min_sample_s`` (one call of a
    millisecond network is mostly dispatch jitter)."""
    started = time.process_time()
    for done in range(10 * warmups + 1):  # and at least two samples' worth of warm-up
        if done >= warmups and time.process_time() - started >= 2 * min_sample_s:
            break
        function(x).numpy()
    started = time.process_time()
    function(x).numpy()
    calls = max(1, math.ceil(min_sample_s / max(time.process_time() - started, 1e-6)))
    times = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(calls):
            function(x).numpy()
        times.append((time.process_time() - started) / calls)
    return times, calls


class Backend(_Base):
    name = "keras_profile"
    family = "cnn"
    in_process = True
    parallel = True  # seconds per point: a worker per core (each with its own networks)
    response_names = ("seconds", "cycles")
    objectives = ("seconds", "cycles")

    def __init__(self, settings: Mapping[str, Any], timeout_s: float = 600.0):
        super().__init__(settings, timeout_s)
        self.models: OrderedDict = OrderedDict()

    @classmethod
    def unavailable_reason(cls, settings: Mapping[str, Any]) -> str | None:
        from importlib.util import find_spec

        if find_spec("tensorflow") is None or find_spec("keras") is None:
            return "cannot import tensorflow and keras: pip install tensorflow-cpu keras"
        return None

    def _model(self, network: str, resolution: int):
        """(model, graph function, build seconds) of a network at a resolution, built once
        (the function traces once per batch size)."""
        from .. import networks, runtime

        key = (network, resolution)
        if key in self.models:
            self.models.move_to_end(key)
            return self.models[key]
        try:
            tf = runtime.tensorflow(self.settings["threads"])
        except RuntimeError as err:
            raise EvaluationFailed(str(err), "error") from None
        started = time.process_time()
        try:
            model = networks.build(network, resolution, self.settings["models"])
        except Exception as err:  # noqa: BLE001 - the network does not build at this point
            raise EvaluationFailed(f"{network} does not build at {resolution} px: "
                                   f"{type(err).__name__}: {err!s:.200}", "build") from None
        function = tf.function(lambda images: model(images, training=False))
        built = (model, function, time.process_time() - started)
        self.models[key] = built
        while len(self.models) > KEEP_MODELS:
            self.models.popitem(last=False)
        return built

    def _batch(self, model, function, resolution: int, batch_size: int):
        """A seeded random input batch, after one call (the trace: set-up, not timing)."""
        import tensorflow as tf

        channels = model.inputs[0].shape[-1]
        try:
            x = tf.random.stateless_uniform((batch_size, resolution, resolution, channels),
                                            seed=(0, 0))
            function(x).numpy()
        except (MemoryError, tf.errors.ResourceExhaustedError) as err:
            raise EvaluationFailed(f"batch {batch_size} at {resolution} px: out of memory: "
                                   f"{err!s:.150}", "oom") from None
        except Exception as err:  # noqa: BLE001 - this batch does not run
            raise EvaluationFailed(f"batch {batch_size} at {resolution} px does not run: "
                                   f"{type(err).__name__}: {err!s:.200}", "build") from None
        return x

    def evaluate(self, point: Mapping[str, Any], workdir: Path) -> dict[str, float | str]:
        settings = self.settings
        network, resolution, batch_size = run_of(point, settings)
        model, function, build_s = self._model(network, resolution)
        x = self._batch(model, function, resolution, batch_size)
        tries = []
        for _ in range(2):
            times, calls = time_calls(function, x, settings["warmups"], settings["repeats"],
                                      settings["min_sample_seconds"])
            tries.append((statistics.median(times), spread(times)))
            if tries[-1][1] <= settings["max_spread"]:
                break
        else:
            raise EvaluationFailed(
                f"timing too noisy: spread {tries[0][1]:.1%} then {tries[1][1]:.1%} > "
                f"{settings['max_spread']:.0%} ({settings['repeats']} samples, median "
                f"{tries[-1][0] * 1e3:.2f} ms)", "noisy")
        seconds, spread_now = tries[-1]
        clock, source = core_clock_hz()
        note = (f"process_time median of {settings['repeats']} samples of {calls} call(s) "
                f"after {settings['warmups']} warm-ups, {settings['threads']} intra-op thread(s); "
                f"spread {spread_now:.1%}" + (" (second try)" if len(tries) > 1 else "")
                + f"; cycles derived: CPU seconds x {clock / 1e6:.0f} MHz ({source}); "
                f"build {build_s:.2f} s")
        if settings["analyse"]:  # the timing stands even when the analysis fails
            from .. import analysis

            try:
                found = analysis.analysis(network, resolution, batch_size, settings["models"],
                                          model=model, build_seconds=build_s)
                note += f"; analysis {found['compile_seconds'] + found['count_seconds']:.2f} s"
            except EvaluationFailed as err:
                note += f"; analysis failed: {err.reason}"
            if settings["gpu_analysis"]:  # the GPU program (a process of its own)
                from .. import gpu_analysis

                try:
                    found = gpu_analysis.gpu_analysis(network, resolution, batch_size,
                                                      settings["models"])
                    note += f"; GPU analysis {found['analysis_seconds']:.2f} s"
                except EvaluationFailed as err:
                    note += f"; GPU analysis failed: {err.reason}"
        return {"seconds": seconds, "cycles": seconds * clock, "note": note}

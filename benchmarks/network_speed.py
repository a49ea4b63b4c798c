"""Training speed of the audio network alone, by batch size and precision, on the device Keras
uses (the CPU, or a GPU when the backend sees one): seconds per epoch of 10,000 random 300 x 80
maps (the last 80 frames padding), each setting in a fresh process, the median of 3 epochs
after an untimed one. No corpus is needed, so the same command compares machines.

    python benchmarks/network_speed.py                  # float32 at batch 32 and 256
    python benchmarks/network_speed.py --mixed          # and mixed precision (the GPU default)
    python benchmarks/network_speed.py --xla            # and float32 compiled by XLA
    KERAS_BACKEND=jax python benchmarks/network_speed.py --mixed   # under Keras' JAX backend
"""
from benchmarks import cli
from benchmarks.measure import median, run_case

NAME = "network_speed"
BATCHES = (32, 256)
COLUMNS = [("precision", "precision", ""), ("xla", "XLA", ""), ("batch", "batch", ""), ("seconds", "s per 10,000 maps", ".2f"),
           ("maps_per_s", "maps/s", ",.0f"), ("device", "device", ""), ("backend", "backend", ""),
           ("peak_tree_rss_mb", "peak RSS MB", ",.0f")]


def main() -> int:
    parser = cli.build_parser(NAME, __doc__)
    parser.add_argument("--mixed", action="store_true", help="also time mixed precision (slow on a CPU)")
    parser.add_argument("--xla", action="store_true", help="also time float32 compiled by XLA (jit_compile)")
    args = parser.parse_args()
    settings = [("float32", False)] + [("mixed", False)] * args.mixed + [("float32", True)] * args.xla
    rows = []
    for precision, xla in settings:
        for batch in BATCHES:
            print(f"  {precision}{', XLA' if xla else ''}, batch {batch}", flush=True)
            result = run_case("network_speed", {"batch": batch, "precision": precision, "repeats": args.repeats,
                                                "xla": xla})
            seconds = median(result["epoch_seconds"])
            rows.append({"precision": precision, "xla": "yes" if xla else "no", "batch": batch, "seconds": seconds,
                         "maps_per_s": 10_000 / seconds,
                         "device": result["device"], "backend": result["backend"],
                         "peak_tree_rss_mb": result["peak_tree_rss_mb"], "all_epoch_seconds": result["epoch_seconds"]})
    cli.finish(NAME, args, [("the audio network alone, random maps", rows, COLUMNS)], [])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

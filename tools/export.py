"""Export a model to ONNX / TorchScript / safetensors (= gancore export)."""
import sys

from gancore.cli.export import main

if __name__ == '__main__':
    sys.exit(main())

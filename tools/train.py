"""Train a gancore config: python tools/train.py CONFIG [options]."""
import argparse
import sys

from gancore.cli import run_tool


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description='Train a GAN from a gancore config.')
    p.add_argument('config', help='config file, e.g. configs/cgan/cgan_digits.py')
    p.add_argument('--work-dir', help='output folder (default: work_dirs/<config name>)')
    p.add_argument('--resume', nargs='?', const=True, default=None, metavar='CKPT',
                   help='resume from CKPT, or from the newest loadable checkpoint in the work '
                        'dir (an lr changed in the config replaces the checkpoint\'s)')
    p.add_argument('--overwrite', action='store_true',
                   help='start afresh in a work dir that holds checkpoints of an earlier run, '
                        'deleting them (without it such a run stops with an error)')
    p.add_argument('--amp', action='store_true', help='mixed precision (bf16 CPU, fp16 GPU)')
    p.add_argument('--channels-last', action='store_true',
                   help='conv weights and activations in channels-last (NHWC) memory format')
    p.add_argument('--compile', action='store_true',
                   help='torch.compile each network in place (nn.Module.compile)')
    p.add_argument('--cudnn-benchmark', action='store_true',
                   help='let cuDNN pick the fastest convolution algorithms (GPU)')
    p.add_argument('--tf32', action='store_true',
                   help='TF32 matmuls/convolutions on Ampere+ GPUs (changes numerics)')
    p.add_argument('--fused-adam', action='store_true', help='fused Adam/AdamW optimizers')
    p.add_argument('--profile', type=int, default=0, metavar='N',
                   help='write a torch.profiler trace of N iterations to <work_dir>/profile/')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='override config keys, e.g. train_cfg.max_iters=100')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    p.add_argument('--seed', type=int, default=None, help='random seed')
    p.add_argument('--local-rank', '--local_rank', type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from gancore.engine import train
    flags = ('channels_last', 'compile', 'cudnn_benchmark', 'tf32', 'fused_adam')
    speed = {name: True for name in flags if getattr(args, name)}
    runner = train(args.config, overwrite=args.overwrite, work_dir=args.work_dir,
                   resume=args.resume, amp=args.amp,
                   cfg_options=args.cfg_options, launcher=args.launcher, seed=args.seed,
                   speed=speed or None, profile=args.profile)
    from mmengine.dist import is_main_process
    if is_main_process():
        print(runner.summary())
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))

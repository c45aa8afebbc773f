"""Stage 11's checkpoint probe (the record of what ran, not a tool): runs the shipped `default` on a 256x384
centre crop and, at every checkpoint the trainer evaluates, prints the Y/Cb/Cr PSNR of the decoder's output
with the float weights and with the weights quantised at that checkpoint's precision.

    NUMBA_NUM_THREADS=1 python docs/overfit/stage11-high-rate-screen/checkpoints.py IMAGE QUALITY
"""
import sys, numpy as np, math
ROOT = __import__('pathlib').Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / 'tools'))
import saecodec
from saecodec.model import overfit as M
from saecodec.kernels import synthesis as K
from overfit_point import load_pixels, ycbcr_psnr
orig = M._Trainer.candidate
def cand(self, precision):
    c = orig(self, precision)
    p = self.params
    q = np.clip(np.rint(p.latents), -32767, 32767).astype(np.float32)
    out = np.empty_like(self.colour)
    K.synthesize(p.shape, q, p.tensors, out)
    fl = ycbcr_psnr(self.colour, out)
    dec = c.plain  # quantised result
    outq = np.empty_like(self.colour)
    shifts, ints = M.quantise_weights(p.tensors, precision)
    w = M.dequantise_weights(ints, self.model, M.OverfitQuantInfo(tuple(shifts)))
    K.synthesize(p.shape, q, w, outq)
    qq = ycbcr_psnr(self.colour, outq)
    print(f"t={self.t} prec={precision} bpp={c.bpp:.4f} psnr={10*math.log10(255**2/c.mse):.2f} float-w YCbCr " + "/".join(f"{v:.2f}" for v in fl) + " quant-w " + "/".join(f"{v:.2f}" for v in qq), flush=True)
    return c
M._Trainer.candidate = cand
px = load_pixels(__import__('pathlib').Path(sys.argv[1]), '256x384')
key = saecodec.generate_key()
r = saecodec.encode_with_stats(px, key, profile='overfit', effort='default', quality=float(sys.argv[2]), seed=0)
print('final', r.bpp, r.psnr)

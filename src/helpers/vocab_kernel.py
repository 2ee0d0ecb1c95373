"""The CPU kernel of the closed-form ablation: per (neuron, token) pair, one pass over the vocabulary.

For a pair (n, t) and every vocabulary entry v (see :mod:`helpers.ablation` for the notation):

    u_v  = A[t, v] + α Q[t, v] + β B[n, v]
    zt_v = u_v / s′ + b_v        (total effect)    zd_v = u_v / s + b_v     (direct effect)
    zf_v = zt_v + c u_freq[v]    (total effect with the frequency component frozen; optional)

and the kernel returns log Σ e^{zt}, the entropy log Σ e^{zt} − Σ zt e^{zt} / Σ e^{zt}, the argmax of
zt, #{v ≠ target: zt_v > target logit}, the same log-sum-exp and entropy for zd, and log Σ e^{zf}.

Why C++: the work is a few exponentials per (neuron, token, vocabulary) element, billions of them,
so the kernel must be bound by the exponentials and not by memory. It walks the vocabulary in
chunks (``chunk`` entries) and, for a block of ``block_n`` neurons × ``block_t`` tokens, runs every
pair of the block over the chunk before moving on: the block's rows of the chunk stay in the core's
cache (L2) and one pair's in L1. Each exponential is shifted by the largest logit seen so far, so a
chunk takes one pass (the first chunk of a pair takes its own maximum first, from a pass without
exponentials); per-chunk sums merge into a running log-sum-exp in float64 (online log-sum-exp). So
a vocabulary of 262,144 entries costs per element what one of 49,152 does. TorchInductor, given the
same formulas, stores the [neurons, tokens, vocabulary] intermediates in memory (measured: 1e9
elements/s on SmolLM2's vocabulary, 1.7e8 on Gemma's).

The exponential is ATen's ``exp_u20`` (a degree-5 polynomial after range reduction, within 20 ulp,
about 1e-6 relative): the log-sum-exps and entropies stay within 1e-5 nats of float64 references
(tests/test_ablation_kernel.py), far inside the suite's 1e-4. The kernel is compiled once per
machine with ``torch.utils.cpp_extension.load_inline`` (about 30 s) with the vector instructions
ATen reports for the CPU, and runs on ATen's thread pool. It is built in the suite's cache,
``<cache dir>/torch_extensions/<name>-<key>`` (:func:`build_directory`), keyed by everything the
binary depends on, not in torch's one folder per machine: checkouts with different sources (or
flags, torch versions) each keep their own build instead of rebuilding it in turn under its lock. Where it
cannot be built (no compiler), :func:`module` returns None and the ablation uses the PyTorch kernel.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
from pathlib import Path
from types import ModuleType

import torch

from helpers.io import cache_dir

log = logging.getLogger(__name__)

PAD = 64  # the vocabulary is padded to a multiple of this (covers every at::vec float width)
PAD_BIAS = -1e30  # bias of padded entries: e^{z} = 0 there, z e^{z} = 0, never the max, never above a target

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <cfloat>
#include <cmath>
#include <vector>

using Vec = at::vec::Vectorized<float>;
constexpr int W = Vec::size();

static inline float hmax(const Vec& v) {
  float buf[W]; v.store(buf); float m = buf[0];
  for (int i = 1; i < W; ++i) m = buf[i] > m ? buf[i] : m;
  return m;
}
static inline float hsum(const Vec& v) {
  float buf[W]; v.store(buf); float s = 0.f;
  for (int i = 0; i < W; ++i) s += buf[i];
  return s;
}

struct Pair {  // the per-pair scalars and the running (online) state over vocabulary chunks
  float al, be, it, id, tgt, cf;
  int64_t tid;
  float zt_max, zd_max, zf_max;  // the largest logits so far (the shifts of the next chunk)
  double rt, st, tt, rd, sd, td, rf, sf;  // S = sum e^{z - r}, T = sum z e^{z - r} so far, about reference r
  int64_t arg, above;
};

// u = A[t] + beta B[n] (+ alpha Q[t]) at entries k..k+W; the same instructions wherever it is needed, so
// that a value recomputed later (the max, the target's lane) has the same bits.
template <bool HAS_Q>
static inline Vec logit_u(const float* a, const float* q, const float* b, const Vec& al, const Vec& be, int64_t k) {
  Vec u = at::vec::fmadd(be, Vec::loadu(b + k), Vec::loadu(a + k));
  if (HAS_Q) u = at::vec::fmadd(al, Vec::loadu(q + k), u);
  return u;
}

// sum e^{z - c}, sum z e^{z - c} and max z over one chunk, for the three logit vectors at once.
struct Sums {
  float st, tt, sd, td, sf, mt, md, mf;
  int64_t above;
};

template <bool HAS_Q, bool HAS_F>
static inline Sums chunk_sums(const Pair& p, const float* a, const float* q, const float* b, const float* bias,
                              const float* uf, int64_t K, float ct, float cd, float cf_shift) {
  const Vec al(p.al), be(p.be), it(p.it), id(p.id), cf(p.cf), tgt(p.tgt), vct(ct), vcd(cd), vcf(cf_shift);
  Vec st(0), tt(0), sd(0), td(0), sf(0), above(0), mt(-FLT_MAX), md(-FLT_MAX), mf(-FLT_MAX);
  for (int64_t k = 0; k < K; k += W) {
    const Vec u = logit_u<HAS_Q>(a, q, b, al, be, k);
    const Vec bv = Vec::loadu(bias + k);
    const Vec zt = at::vec::fmadd(u, it, bv);
    const Vec et = (zt - vct).exp_u20();
    st = st + et;
    tt = at::vec::fmadd(et, zt, tt);
    mt = at::vec::maximum(mt, zt);
    above = above + zt.gt(tgt);
    const Vec zd = at::vec::fmadd(u, id, bv);
    const Vec ed = (zd - vcd).exp_u20();
    sd = sd + ed;
    td = at::vec::fmadd(ed, zd, td);
    md = at::vec::maximum(md, zd);
    if (HAS_F) {
      const Vec zf = at::vec::fmadd(cf, Vec::loadu(uf + k), zt);
      sf = sf + (zf - vcf).exp_u20();
      mf = at::vec::maximum(mf, zf);
    }
  }
  return Sums{hsum(st), hsum(tt), hsum(sd), hsum(td), HAS_F ? hsum(sf) : 0.f, hmax(mt), hmax(md),
              HAS_F ? hmax(mf) : 0.f, (int64_t)hsum(above)};
}

// The first index k < K with zt_k == value (the chunk's maximum), or -1.
template <bool HAS_Q>
static inline int64_t first_equal(const Pair& p, const float* a, const float* q, const float* b, const float* bias,
                                  int64_t K, float value) {
  const Vec al(p.al), be(p.be), it(p.it), v(value);
  const int full = (1 << W) - 1;
  for (int64_t k = 0; k < K; k += W) {
    const Vec zt = at::vec::fmadd(logit_u<HAS_Q>(a, q, b, al, be, k), it, Vec::loadu(bias + k));
    const int not_equal = zt.eq(v).zero_mask();
    if (not_equal != full) return k + __builtin_ctz(~not_equal & full);
  }
  return -1;
}

// Merge a chunk's sums (about shift c) into the running ones (about reference r): r' = max(r, c).
static inline void merge(double& r, double& s, double& t, double c, double sc, double tc) {
  const double rn = r > c ? r : c;
  const double w0 = std::exp(r - rn), w1 = std::exp(c - rn);
  s = s * w0 + sc * w1;
  t = t * w0 + tc * w1;
  r = rn;
}

// One pair over one chunk [k0, k0 + K). Each exponential is shifted by the largest logit seen so far (on
// the first chunk, by the chunk's own maximum, from a cheaper pass without exponentials), so one pass
// gives the sums; a chunk whose logits exceed the shift by more than SAFE is summed again about its own
// maximum (no overflow: K e^{SAFE} is far below FLT_MAX). Terms far below the shift underflow to 0, which
// is harmless: the running sum already holds the term e^0 = 1 of the maximum the shift came from.
template <bool HAS_Q, bool HAS_F>
static inline void chunk_pair(Pair& p, const float* a, const float* q, const float* b, const float* bias,
                              const float* uf, int64_t k0, int64_t K) {
  constexpr float SAFE = 60.f;
  float ct = p.zt_max, cd = p.zd_max, cf = p.zf_max;
  if (k0 == 0) {  // no shift yet: the maxima of the first chunk
    const Vec al(p.al), be(p.be), it(p.it), id(p.id), vcf(p.cf);
    Vec mt(-FLT_MAX), md(-FLT_MAX), mf(-FLT_MAX);
    for (int64_t k = 0; k < K; k += W) {
      const Vec u = logit_u<HAS_Q>(a, q, b, al, be, k);
      const Vec bv = Vec::loadu(bias + k);
      const Vec zt = at::vec::fmadd(u, it, bv);
      mt = at::vec::maximum(mt, zt);
      md = at::vec::maximum(md, at::vec::fmadd(u, id, bv));
      if (HAS_F) mf = at::vec::maximum(mf, at::vec::fmadd(vcf, Vec::loadu(uf + k), zt));
    }
    ct = hmax(mt), cd = hmax(md), cf = HAS_F ? hmax(mf) : 0.f;
  }
  Sums c = chunk_sums<HAS_Q, HAS_F>(p, a, q, b, bias, uf, K, ct, cd, cf);
  if (c.mt > ct + SAFE || c.md > cd + SAFE || (HAS_F && c.mf > cf + SAFE)) {
    ct = c.mt, cd = c.md, cf = c.mf;
    c = chunk_sums<HAS_Q, HAS_F>(p, a, q, b, bias, uf, K, ct, cd, cf);
  }
  int64_t above = c.above;
  const int64_t local = p.tid - k0;  // the target itself does not count: recompute its lane exactly
  if (local >= 0 && local < K) {
    const int64_t k = local - local % W;
    const Vec u = logit_u<HAS_Q>(a, q, b, Vec(p.al), Vec(p.be), k);
    float buf[W];
    at::vec::fmadd(u, Vec(p.it), Vec::loadu(bias + k)).gt(Vec(p.tgt)).store(buf);
    above -= (int64_t)buf[local % W];
  }
  p.above += above;
  if (c.mt > p.zt_max) {  // a new maximum (strictly: the first one over the vocabulary wins, as torch.argmax)
    const int64_t i = first_equal<HAS_Q>(p, a, q, b, bias, K, c.mt);
    p.arg = k0 + (i < 0 ? 0 : i);
    p.zt_max = c.mt;
  }
  p.zd_max = std::max(p.zd_max, c.md);
  merge(p.rt, p.st, p.tt, ct, c.st, c.tt);
  merge(p.rd, p.sd, p.td, cd, c.sd, c.td);
  if (HAS_F) {
    p.zf_max = std::max(p.zf_max, c.mf);
    double unused = 0;
    merge(p.rf, p.sf, unused, cf, c.sf, 0.0);
  }
}

template <bool HAS_Q, bool HAS_F>
static void run(const std::vector<torch::Tensor>& in, const std::vector<torch::Tensor>& out,
                int64_t block_n, int64_t block_t, int64_t chunk) {
  const auto &A = in[0], &Q = in[1], &B = in[2], &bias = in[3], &uf = in[4];
  const int64_t M = A.size(0), V = A.size(1), N = B.size(0);
  const float *a = A.data_ptr<float>(), *q = HAS_Q ? Q.data_ptr<float>() : nullptr, *b = B.data_ptr<float>(),
              *bs = bias.data_ptr<float>(), *u = HAS_F ? uf.data_ptr<float>() : nullptr;
  const float *al = in[5].data_ptr<float>(), *be = in[6].data_ptr<float>(), *it = in[7].data_ptr<float>(),
              *id = in[8].data_ptr<float>(), *tg = in[9].data_ptr<float>(),
              *cf = HAS_F ? in[10].data_ptr<float>() : nullptr;
  const int64_t* tid = in[11].data_ptr<int64_t>();
  float *lse_te = out[0].data_ptr<float>(), *ent_te = out[1].data_ptr<float>(), *lse_de = out[4].data_ptr<float>(),
        *ent_de = out[5].data_ptr<float>(), *lse_f = HAS_F ? out[6].data_ptr<float>() : nullptr;
  int64_t *argmax = out[2].data_ptr<int64_t>(), *above = out[3].data_ptr<int64_t>();
  const int64_t nbn = (N + block_n - 1) / block_n, nbt = (M + block_t - 1) / block_t;
  at::parallel_for(0, nbn * nbt, 1, [&](int64_t lo, int64_t hi) {
    std::vector<Pair> pairs;
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t n0 = (blk / nbt) * block_n, t0 = (blk % nbt) * block_t;
      const int64_t n1 = std::min(N, n0 + block_n), t1 = std::min(M, t0 + block_t);
      pairs.clear();
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t i = n * M + t;
          pairs.push_back(Pair{al[i], be[i], it[i], id[i], tg[i], HAS_F ? cf[i] : 0.f, tid[t],
                               -FLT_MAX, -FLT_MAX, -FLT_MAX, -DBL_MAX, 0, 0, -DBL_MAX, 0, 0, -DBL_MAX, 0, -1, 0});
        }
      for (int64_t k0 = 0; k0 < V; k0 += chunk) {
        const int64_t K = std::min(chunk, V - k0);
        size_t j = 0;
        for (int64_t n = n0; n < n1; ++n)
          for (int64_t t = t0; t < t1; ++t, ++j)
            chunk_pair<HAS_Q, HAS_F>(pairs[j], a + t * V + k0, HAS_Q ? q + t * V + k0 : nullptr, b + n * V + k0,
                                     bs + k0, HAS_F ? u + k0 : nullptr, k0, K);
      }
      size_t j = 0;
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t t = t0; t < t1; ++t, ++j) {
          const Pair& p = pairs[j];
          const int64_t i = n * M + t;
          lse_te[i] = (float)(p.rt + std::log(p.st));
          ent_te[i] = (float)(p.rt + std::log(p.st) - p.tt / p.st);
          lse_de[i] = (float)(p.rd + std::log(p.sd));
          ent_de[i] = (float)(p.rd + std::log(p.sd) - p.td / p.sd);
          if (HAS_F) lse_f[i] = (float)(p.rf + std::log(p.sf));
          argmax[i] = p.arg;
          above[i] = p.above;
        }
    }
  });
}

// in: A [M, V], Q [M, V] (or empty), B [N, V], bias [V], u_freq [V] (or empty), then [N, M]: alpha, beta,
// inv_te, inv_de, target_te, c_freq (or empty); target ids [M] (int64). V: a multiple of the vector width.
// out: [N, M]: lse_te, entropy_te, argmax_te (int64), n_above_te (int64), lse_de, entropy_de, lse_freq (or empty).
void vocab_stats(std::vector<torch::Tensor> in, std::vector<torch::Tensor> out, int64_t block_n, int64_t block_t,
                 int64_t chunk) {
  TORCH_CHECK(in[0].size(1) % W == 0 && chunk % W == 0, "vocabulary and chunk must be multiples of ", W);
  for (const auto& x : in) TORCH_CHECK(!x.defined() || x.numel() == 0 || x.is_contiguous(), "inputs must be contiguous");
  const bool has_q = in[1].numel() > 0, has_f = in[4].numel() > 0;
  if (has_q && has_f) run<true, true>(in, out, block_n, block_t, chunk);
  else if (has_q) run<true, false>(in, out, block_n, block_t, chunk);
  else if (has_f) run<false, true>(in, out, block_n, block_t, chunk);
  else run<false, false>(in, out, block_n, block_t, chunk);
}

// The floor of the benchmark: for the same pairs, blocks and chunks, n_exp fused exp-and-sums per element,
// out[n, t] = sum_v sum_{j < n_exp} exp(A[t, v] + beta_j[n, t] B[n, v]) (rows in cache, nothing else).
void exp_sum_floor(torch::Tensor A, torch::Tensor B, torch::Tensor beta, torch::Tensor out, int64_t n_exp,
                   int64_t block_n, int64_t block_t, int64_t chunk) {
  const int64_t M = A.size(0), V = A.size(1), N = B.size(0);
  const float *a = A.data_ptr<float>(), *b = B.data_ptr<float>(), *be = beta.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t nbn = (N + block_n - 1) / block_n, nbt = (M + block_t - 1) / block_t;
  at::parallel_for(0, nbn * nbt, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t n0 = (blk / nbt) * block_n, t0 = (blk % nbt) * block_t;
      const int64_t n1 = std::min(N, n0 + block_n), t1 = std::min(M, t0 + block_t);
      for (int64_t k0 = 0; k0 < V; k0 += chunk) {
        const int64_t K = std::min(chunk, V - k0);
        for (int64_t n = n0; n < n1; ++n)
          for (int64_t t = t0; t < t1; ++t) {
            const float* ap = a + t * V + k0;
            const float* bp = b + n * V + k0;
            Vec s(0);
            for (int64_t j = 0; j < n_exp; ++j) {
              const Vec bj(be[n * M + t] * (1.f + 0.25f * j));
              for (int64_t k = 0; k < K; k += W) s = s + at::vec::fmadd(bj, Vec::loadu(bp + k), Vec::loadu(ap + k)).exp_u20();
            }
            o[n * M + t] += hsum(s);
          }
      }
    }
  });
}
"""

_FUNCTIONS = ("vocab_stats", "exp_sum_floor")  # the C++ functions the module exposes
_MODULE: list[ModuleType | None] = []


def _flags() -> list[str]:
    """Compiler flags for the vector instructions this CPU has (ATen's own capability check)."""
    capability = torch.backends.cpu.get_cpu_capability()
    if capability.startswith("AVX512"):
        isa = ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mfma", "-DCPU_CAPABILITY_AVX512",
               "-DCPU_CAPABILITY=AVX512"]
    elif capability == "AVX2":
        isa = ["-mavx2", "-mfma", "-DCPU_CAPABILITY_AVX2", "-DCPU_CAPABILITY=AVX2"]
    else:
        isa = []
    # no contraction of a*b + c into FMAs behind our back: a recomputed logit must have the same bits
    return ["-O3", "-ffp-contract=off", *isa]


def build_directory(name: str, flags: list[str]) -> Path:
    """``<cache dir>/torch_extensions/<name>-<key>`` (created if missing): ``key`` is the sha256 (16 hex
    digits) of the source, the functions, the compiler flags and name, torch's version and C++ ABI, the
    Python ABI and the machine, so a folder holds one build that every checkout with the same inputs shares."""
    parts = {"source": _SOURCE, "functions": _FUNCTIONS, "flags": flags, "compiler": os.environ.get("CXX", "c++"),
             "torch": torch.__version__, "cxx11_abi": bool(torch._C._GLIBCXX_USE_CXX11_ABI),
             "python": sys.implementation.cache_tag, "machine": platform.machine()}
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "torch_extensions" / f"{name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def module() -> ModuleType | None:
    """The compiled kernel, built on first use; None (with a warning) where it cannot be built."""
    if not _MODULE:
        try:
            from torch.utils.cpp_extension import load_inline

            name, flags = f"neuron_repro_vocab_{torch.backends.cpu.get_cpu_capability().lower()}", _flags()
            _MODULE.append(load_inline(name=name, cpp_sources=_SOURCE, functions=list(_FUNCTIONS), extra_cflags=flags,
                                       build_directory=str(build_directory(name, flags))))
        except Exception as e:  # no compiler, no ninja, ...: the portable (slower) path still gives exact results
            log.warning("the C++ vocabulary kernel could not be built (%s: %s); using the PyTorch kernel",
                        type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            _MODULE.append(None)
    return _MODULE[0]


def pad_vocab(x: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Pad the last (vocabulary) dimension to a multiple of :data:`PAD` with ``fill``, contiguous."""
    extra = -x.shape[-1] % PAD
    if extra == 0:
        return x.contiguous()
    return torch.nn.functional.pad(x, (0, extra), value=fill).contiguous()

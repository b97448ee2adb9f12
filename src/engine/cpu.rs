//! CPU helpers shared by the engines (the GGUF models' forward pass and Marian): which
//! instruction-set level the kernels run at, and float dot products and sums in ggml's order.
//!
//! The level is detected once, or forced with `PRECIS_CPU` or `--cpu`; every kernel chooses its
//! variant by [`level`]. `portable` and `avx2` compute the same bits (those of llama.cpp's AVX2
//! build): the portable code is the reference each SIMD variant is tested against. `avx512`
//! computes those of llama.cpp's AVX-512 build, which sums floats in 16 lanes ([`float_lanes`]);
//! its integer kernels give the same sums as the others.

use std::sync::OnceLock;

use half::f16;

/// An instruction-set level the kernels are written for, in increasing order: a level implies
/// the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Plain Rust that the compiler vectorizes for the target's baseline (SSE2 on x86-64, NEON on
    /// aarch64): every CPU.
    Portable,
    /// x86-64 with AVX2, FMA and F16C.
    Avx2,
    /// [`Level::Avx2`] plus AVX-512 F, CD, VL, DQ and BW (what ggml's `GGML_AVX512` compiles
    /// for). The quantized products are the AVX2 kernels (the same integer sums and float order
    /// as llama.cpp's AVX-512 build, whose K-quant dot products have no 512-bit branch of their
    /// own); llama.cpp's float vector code works in 16 lanes here, and so does precis's: the
    /// attention's f16 dot products and sums, the softmax and SiLU with ggml's AVX-512 exp, and
    /// the products of float matrices (see [`float_lanes`]).
    Avx512,
}

impl Level {
    /// Every level, in increasing order.
    pub const ALL: [Level; 3] = [Level::Portable, Level::Avx2, Level::Avx512];

    /// The name `PRECIS_CPU` and `--cpu` take, and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// The level called `name` (case-insensitive).
    pub fn parse(name: &str) -> Result<Level, String> {
        Self::ALL.into_iter().find(|level| level.name().eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|l| l.name()).collect();
            format!("unknown CPU level `{name}`; accepted: {}", names.join(", "))
        })
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The environment variable that forces a level (below `--cpu`, above detection).
pub const LEVEL_ENV: &str = "PRECIS_CPU";

/// The highest level this CPU supports.
pub fn detected() -> Level {
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return if avx2::avx512_available() { Level::Avx512 } else { Level::Avx2 };
        }
        Level::Portable
    })
}

/// `requested` (a level's name), checked against what this CPU supports; the detected level
/// when none is requested.
pub fn resolve(requested: Option<&str>) -> Result<Level, String> {
    resolve_for(requested, detected())
}

/// [`resolve`] on a CPU that supports `supported` at most.
fn resolve_for(requested: Option<&str>, supported: Level) -> Result<Level, String> {
    let Some(name) = requested else { return Ok(supported) };
    let level = Level::parse(name)?;
    check_supported(level, supported)?;
    Ok(level)
}

/// Fails if `level` is above `supported`, the highest level of the CPU.
fn check_supported(level: Level, supported: Level) -> Result<(), String> {
    if level > supported {
        return Err(format!("CPU level `{level}` requested, but this CPU supports `{supported}` at most"));
    }
    Ok(())
}

/// The level asked for by `flag` (`--cpu`) if given, else by `PRECIS_CPU` if set, else the
/// detected one. Fails on an unknown name or a level above this CPU's, naming where it came from.
pub fn requested(flag: Option<&str>) -> Result<Level, String> {
    let (requested, from) = match flag {
        Some(name) => (Some(name.to_string()), "--cpu"),
        None => (std::env::var(LEVEL_ENV).ok().filter(|v| !v.trim().is_empty()), LEVEL_ENV),
    };
    resolve(requested.as_deref()).map_err(|e| format!("{from}: {e}"))
}

static ACTIVE: OnceLock<Level> = OnceLock::new();

/// Makes `level` (from [`requested`]) the one the kernels run at for the rest of the process;
/// fails if another one is already in use, or if this CPU does not support it.
pub fn install(level: Level) -> Result<(), String> {
    // The kernels' `unsafe` calls rely on it: the active level's features are this CPU's.
    check_supported(level, detected())?;
    let active = *ACTIVE.get_or_init(|| level);
    if active != level {
        return Err(format!("CPU level `{level}` requested after `{active}` was already in use"));
    }
    Ok(())
}

/// The level the kernels run at: the one [`install`] set, else `PRECIS_CPU` if it names a level
/// this CPU supports (with a warning if not), else the detected level. Read once.
///
/// Never above [`detected`]: [`install`] and [`resolve`] refuse higher levels. The kernels'
/// `unsafe` calls of code compiled for a level's features rely on it (a level implies that
/// its features, and the lower levels', were detected on this CPU).
#[inline]
pub fn level() -> Level {
    *ACTIVE.get_or_init(|| {
        let requested = std::env::var(LEVEL_ENV).ok().filter(|v| !v.trim().is_empty());
        resolve(requested.as_deref()).unwrap_or_else(|e| {
            tracing::warn!("{LEVEL_ENV}: {e}; using `{}`", detected());
            detected()
        })
    })
}

/// Defines a function that runs an `#[inline(always)]` one compiled with AVX2, FMA and F16C when
/// the CPU has them, so that `mul_add` is one instruction instead of a call into libm and loops
/// vectorize with 256-bit registers. The results are the same either way. `$inner` must be a
/// safe function.
#[macro_export]
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $inner:path;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma,f16c")]
                fn fast($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                if $crate::engine::cpu::simd_available() {
                    // SAFETY: `fast` needs only its CPU features, and `simd_available` is true
                    // only at a level whose features were detected (AVX2, FMA and F16C).
                    return unsafe { fast($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}

/// Defines a function that runs `$inner::<L>`, an `#[inline(always)]` function generic over the
/// lanes of llama.cpp's float vectors ([`float_lanes`]): `L` = 16 compiled with AVX-512 at
/// [`Level::Avx512`], `L` = 8 compiled with AVX2, FMA and F16C at [`Level::Avx2`], `L` = 8 in
/// portable code otherwise. The two widths are two orders of llama.cpp's float sums, each
/// computed the same way on every level that uses it. `$inner` must be a safe function.
#[macro_export]
macro_rules! lanes_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $inner:ident;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma,f16c")]
                fn lanes8($($arg: $ty),*) $(-> $ret)? {
                    $inner::<8>($($arg),*)
                }
                #[target_feature(enable = "avx512f,avx512cd,avx512vl,avx512dq,avx512bw,avx2,fma,f16c")]
                fn lanes16($($arg: $ty),*) $(-> $ret)? {
                    $inner::<16>($($arg),*)
                }
                match $crate::engine::cpu::level() {
                    // SAFETY: `lanes16` needs only its CPU features, which `Level::Avx512`
                    // implies were detected on this CPU (see `cpu::level`).
                    $crate::engine::cpu::Level::Avx512 => return unsafe { lanes16($($arg),*) },
                    // SAFETY: likewise for `lanes8` and `Level::Avx2`.
                    $crate::engine::cpu::Level::Avx2 => return unsafe { lanes8($($arg),*) },
                    $crate::engine::cpu::Level::Portable => {}
                }
            }
            $inner::<8>($($arg),*)
        }
    };
}

/// Dot product in eight lanes of fused multiply-adds, summed in ggml's order (`hsum8`), then the
/// elements past the last whole eight.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: `avx2::dot_f32` needs only AVX2, FMA and F16C, which `simd_available` says
        // were detected.
        return unsafe { avx2::dot_f32(a, b) };
    }
    dot_f32_lanes(a, b)
}

/// The portable [`dot_f32`].
fn dot_f32_lanes(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent lanes, then a fixed reduction: deterministic.
    let mut lanes = [0f32; 8];
    let mut a8 = a.chunks_exact(8);
    let mut b8 = b.chunks_exact(8);
    for (x, y) in (&mut a8).zip(&mut b8) {
        lanes = fused_mul_add_lanes(x.try_into().unwrap(), y.try_into().unwrap(), &lanes);
    }
    let mut sum = hsum8(&lanes);
    for (x, y) in a8.remainder().iter().zip(b8.remainder()) {
        sum = fused_mul_add(*x, *y, sum);
    }
    sum
}

/// `a * b + c` rounded once, as `f32::mul_add`, for the portable code: one instruction where the
/// target has fused multiply-adds (aarch64, or x86-64 built with FMA). On other x86-64 builds,
/// where `mul_add` is a call into a library routine, the same correctly rounded result inline:
/// the product is exact in f64, and the f64 sum rounded to f32 is the fused result unless that
/// sum lies exactly halfway between two f32 values (the exact sum may then lie on either side of
/// it) or is a nonzero value below f32's normal range (where an f32 has fewer bits); only then
/// [`fused_mul_add_exact`].
#[inline(always)]
pub fn fused_mul_add(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(any(target_arch = "aarch64", target_feature = "fma", not(target_arch = "x86_64")))]
    return a.mul_add(b, c);
    #[cfg(all(target_arch = "x86_64", not(target_feature = "fma")))]
    {
        let s = a as f64 * b as f64 + c as f64;
        if rounds_twice_differently(s) {
            fused_mul_add_exact(a, b, c)
        } else {
            s as f32
        }
    }
}

/// Whether rounding `s`, an f64 rounding of an exact value, to f32 may give another f32 than
/// rounding the exact value once: see [`fused_mul_add`].
#[inline(always)]
#[cfg_attr(any(target_arch = "aarch64", target_feature = "fma", not(target_arch = "x86_64")), allow(dead_code))]
fn rounds_twice_differently(s: f64) -> bool {
    // Halfway: the 29 bits an f32 drops are 1 followed by zeros.
    let halfway = s.to_bits() as u32 & 0x1fff_ffff == 0x1000_0000;
    let tiny = s.abs() < f32::MIN_POSITIVE as f64 && s != 0.0;
    halfway | tiny
}

/// [`fused_mul_add`] without the fast path, inline and vectorizable: the product is exact in
/// f64, the f64 sum is rounded to odd (its error, found by an exact two-sum, sets the last bit),
/// and a value rounded to odd with at least two bits more than an f32 rounds to the f32 nearest
/// the exact sum (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved
/// algorithms using rounding to odd", 2008).
#[inline(always)]
#[cfg_attr(any(target_arch = "aarch64", target_feature = "fma", not(target_arch = "x86_64")), allow(dead_code))]
fn fused_mul_add_exact(a: f32, b: f32, c: f32) -> f32 {
    let (p, c) = (a as f64 * b as f64, c as f64);
    let s = p + c;
    // Two-sum: s + err is exactly p + c.
    let pv = s - p;
    let err = (p - (s - pv)) + (c - pv);
    let bits = s.to_bits();
    // Inexact with an even last bit: the odd neighbour towards the exact sum (one step away
    // from zero if the error has the sign of s, towards it otherwise). Not for infinities
    // and NaN, whose error is NaN. In masks rather than branches, so that it vectorizes.
    let adjust = (err != 0.0) as u64 & !bits & (s.is_finite() as u64);
    let towards_zero = (err.to_bits() ^ bits) >> 63;
    let step = (1 | towards_zero.wrapping_neg()) & adjust.wrapping_neg();
    f64::from_bits(bits.wrapping_add(step)) as f32
}

/// [`fused_mul_add`] of `N` lanes: one check over all lanes, so that the common case is a
/// multiply, an add and a conversion per lane, vectorized.
#[inline(always)]
pub fn fused_mul_add_lanes<const N: usize>(a: &[f32; N], b: &[f32; N], c: &[f32; N]) -> [f32; N] {
    #[cfg(any(target_arch = "aarch64", target_feature = "fma", not(target_arch = "x86_64")))]
    return std::array::from_fn(|i| a[i].mul_add(b[i], c[i]));
    #[cfg(all(target_arch = "x86_64", not(target_feature = "fma")))]
    {
        let s: [f64; N] = std::array::from_fn(|i| a[i] as f64 * b[i] as f64 + c[i] as f64);
        if s.iter().fold(false, |hard, &s| hard | rounds_twice_differently(s)) {
            std::array::from_fn(|i| fused_mul_add_exact(a[i], b[i], c[i]))
        } else {
            std::array::from_fn(|i| s[i] as f32)
        }
    }
}

/// The f32 of the same value as `h` (every f16 is exact in f32): the exponent and mantissa
/// moved to their f32 places and multiplied by 2^112, which re-biases the exponent exactly for
/// normal and subnormal values alike; infinities and NaN get the f32 exponent of all ones.
/// Without branches, so that a loop of them vectorizes (SSE2, NEON).
#[inline(always)]
pub fn f16_to_f32(h: f16) -> f32 {
    let h = h.to_bits() as u32;
    let magnitude = (h & 0x7fff) << 13;
    // 2^112: biased exponent 127 + 112.
    let scaled = (f32::from_bits(magnitude) * f32::from_bits(0x7780_0000)).to_bits();
    let bits = if h & 0x7c00 == 0x7c00 { magnitude | 0x7f80_0000 } else { scaled };
    f32::from_bits(bits | (h & 0x8000) << 16)
}

/// `xs` rounded to the nearest f16 values (ties to even), as f32.
pub fn round_to_f16(xs: &[f32]) -> Vec<f32> {
    use half::slice::HalfFloatSliceExt;
    let mut halves = vec![f16::ZERO; xs.len()];
    halves.convert_from_f32_slice(xs);
    let mut out = vec![0f32; xs.len()];
    halves.convert_to_f32_slice(&mut out);
    out
}

/// Whether the kernels run at [`Level::Avx2`] or above (AVX2, FMA and F16C detected and not
/// switched off).
#[inline]
pub fn simd_available() -> bool {
    level() >= Level::Avx2
}

/// Whether the integer kernels may use AVX-512 VNNI's byte products (on 256-bit registers): at
/// [`Level::Avx512`] on a CPU with AVX512_VNNI. Integer sums are exact, so this changes no result.
#[inline]
pub fn vnni_available() -> bool {
    static VNNI: OnceLock<bool> = OnceLock::new();
    level() >= Level::Avx512
        && *VNNI.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            return is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl");
            #[cfg(not(target_arch = "x86_64"))]
            false
        })
}

/// Whether the integer kernels may use AVX-VNNI's byte products (the VEX-encoded 256-bit
/// `vpdpbusd` of CPUs such as Intel Alder Lake and AMD Zen 5): at [`Level::Avx2`] or above, on a
/// CPU with AVX_VNNI, where [`vnni_available`] is false. The same exact integer sums.
#[inline]
pub fn avx_vnni_available() -> bool {
    static AVX_VNNI: OnceLock<bool> = OnceLock::new();
    level() >= Level::Avx2
        && !vnni_available()
        && *AVX_VNNI.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            return is_x86_feature_detected!("avxvnni");
            #[cfg(not(target_arch = "x86_64"))]
            false
        })
}

/// The lanes of llama.cpp's float vectors at the active level, which set the order of its float
/// sums (softmax, attention, float matrices): 16 at [`Level::Avx512`], else 8.
#[inline]
pub fn float_lanes() -> usize {
    if level() >= Level::Avx512 {
        16
    } else {
        8
    }
}

/// The sum of `L` (8 or 16) lanes in ggml's order: eight lanes as [`hsum8`]; sixteen as
/// `_mm512_reduce_add_ps` folds them, the upper eight onto the lower eight, then as eight.
#[inline(always)]
pub fn hsum<const L: usize>(l: &[f32; L]) -> f32 {
    const { assert!(L == 8 || L == 16) };
    if L == 8 {
        hsum8(l[..8].try_into().unwrap())
    } else {
        hsum8(&std::array::from_fn(|k| l[k] + l[k + 8]))
    }
}

/// ggml's `hsum_float_8`: (l0+l4, l1+l5, l2+l6, l3+l7), then (0+2, 1+3), then 0+1.
#[inline(always)]
pub fn hsum8(l: &[f32; 8]) -> f32 {
    let (a0, a1, a2, a3) = (l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]);
    (a0 + a2) + (a1 + a3)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::hsum8;

    pub fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
    }

    /// The AVX-512 subsets ggml's `GGML_AVX512` build uses.
    pub fn avx512_available() -> bool {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512cd")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512bw")
    }

    /// [`super::dot_f32`] with explicit vectors (the compiler leaves the lanes scalar):
    /// the same fused operations in the same lanes, so the same bits.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let n8 = n / 8 * 8;
        let mut acc = _mm256_setzero_ps();
        for i in (0..n8).step_by(8) {
            // SAFETY: i + 8 <= n8 <= both lengths, by the loop bound.
            let (x, y) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i))) };
            acc = _mm256_fmadd_ps(x, y, acc);
        }
        let mut lanes = [0f32; 8];
        // SAFETY: eight f32 into the eight of `lanes`.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        let mut sum = hsum8(&lanes);
        for (x, y) in a[n8..n].iter().zip(&b[n8..n]) {
            sum = x.mul_add(*y, sum);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift generator of 32-bit values.
    fn xorshift(mut state: u32) -> impl FnMut() -> u32 {
        move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        }
    }

    #[test]
    fn the_portable_fused_multiply_add_rounds_once_like_mul_add() {
        let mut next = xorshift(0x9E37_79B9u32);
        let specials = [0.0, -0.0, 1.0, -1.0, f32::MIN_POSITIVE, 1e-45, f32::MAX, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        for i in 0..2_000_000 {
            // Random bit patterns (every exponent, subnormals, specials), and products that
            // nearly cancel the addend, where a double rounding would show.
            let (a, b) = (f32::from_bits(next()), f32::from_bits(next()));
            let c = match i % 4 {
                0 => f32::from_bits(next()),
                1 => -(a * b) * (1.0 + (next() % 64) as f32 * f32::EPSILON),
                2 => -(a * b) + f32::from_bits(next() % 0x3400_0000) * (a * b),
                _ => specials[next() as usize % specials.len()],
            };
            let want = a.mul_add(b, c);
            for got in [fused_mul_add(a, b, c), fused_mul_add_exact(a, b, c)] {
                assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{a:e} * {b:e} + {c:e}: {got:e} vs {want:e}");
            }
        }
    }

    #[test]
    fn fused_multiply_adds_round_once_even_where_the_f64_sum_is_halfway() {
        let mut next = xorshift(0x2545_F491u32);
        let check = |a: &[f32; 8], b: &[f32; 8], c: &[f32; 8]| {
            let lanes = fused_mul_add_lanes(a, b, c);
            for i in 0..8 {
                let want = a[i].mul_add(b[i], c[i]);
                for got in [lanes[i], fused_mul_add(a[i], b[i], c[i])] {
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "{:e} * {:e} + {:e}: {got:e} vs {want:e}",
                        a[i],
                        b[i],
                        c[i],
                    );
                }
            }
        };
        // The sum in f64 lands halfway between 1 + 2^-23 and 1 + 2^-22 while the exact sum,
        // 1 + 2^-23 + 2^-24 - k^2 2^-70, is below it: rounding twice gives 1 + 2^-22, once 1 + 2^-23.
        let ulp = f32::EPSILON;
        for k in 1..64 {
            let (a, b, c) = (1.0 + k as f32 * ulp, ulp / 2.0 * (1.0 - k as f32 * ulp), 1.0 + ulp);
            let mut lanes = ([1f32; 8], [0.5f32; 8], [0.25f32; 8]);
            let lane = k % 8;
            (lanes.0[lane], lanes.1[lane], lanes.2[lane]) = (a, b, c);
            assert_ne!(((a as f64 * b as f64 + c as f64) as f32).to_bits(), a.mul_add(b, c).to_bits());
            check(&lanes.0, &lanes.1, &lanes.2);
        }
        // The same below f32's normal range: 2^-150 - 2^-196 added to an odd multiple m of
        // 2^-149 lands in f64 on the halfway point m 2^-149 + 2^-150, which rounds up to even;
        // the exact sum is below it.
        for m in [65u32, 129, 1025, (1 << 20) + 1] {
            let (a, b, c) = (2f32.powi(-75) * (1.0 + ulp), 2f32.powi(-75) * (1.0 - ulp), f32::from_bits(m));
            assert_ne!(((a as f64 * b as f64 + c as f64) as f32).to_bits(), a.mul_add(b, c).to_bits());
            check(&[a; 8], &[b; 8], &[c; 8]);
        }
        // Random lanes: every exponent, subnormal results, near cancellations.
        for i in 0..200_000 {
            let a: [f32; 8] = std::array::from_fn(|_| f32::from_bits(next()));
            let b: [f32; 8] = std::array::from_fn(|_| f32::from_bits(next()));
            let c: [f32; 8] = std::array::from_fn(|l| match (i + l) % 3 {
                0 => f32::from_bits(next()),
                1 => -(a[l] * b[l]) * (1.0 + (next() % 64) as f32 * f32::EPSILON),
                _ => f32::from_bits(next() % 0x0100_0000),
            });
            check(&a, &b, &c);
        }
    }

    #[test]
    fn every_f16_widens_to_the_same_value_as_the_half_crate_gives() {
        for bits in 0..=u16::MAX {
            let h = f16::from_bits(bits);
            let (got, want) = (f16_to_f32(h), h.to_f32());
            if want.is_nan() {
                assert!(got.is_nan() && got.to_bits() >> 31 == want.to_bits() >> 31, "{bits:#06x}");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn levels_are_named_and_checked_against_the_cpu() {
        assert_eq!(Level::parse("portable"), Ok(Level::Portable));
        assert_eq!(Level::parse("AVX2"), Ok(Level::Avx2));
        let err = Level::parse("neon").unwrap_err();
        assert!(err.contains("`neon`") && err.contains("portable, avx2, avx512"), "{err}");
        assert_eq!(Level::parse("avx512"), Ok(Level::Avx512));
        let err = resolve_for(Some("avx512"), Level::Avx2).unwrap_err();
        assert!(err.contains("`avx512` requested") && err.contains("supports `avx2` at most"), "{err}");
        assert_eq!(resolve(None), Ok(detected()));
        assert_eq!(resolve(Some("portable")), Ok(Level::Portable));
        assert_eq!(resolve_for(Some("avx2"), Level::Avx2), Ok(Level::Avx2));
        assert_eq!(resolve_for(None, Level::Portable), Ok(Level::Portable));
        let err = resolve_for(Some("avx2"), Level::Portable).unwrap_err();
        assert!(err.contains("`avx2` requested") && err.contains("supports `portable` at most"), "{err}");
    }
}

//! Kernels compiled twice: for the baseline x86-64 that the binary targets,
//! and for the x86-64-v3 level (AVX2, BMI1/2, POPCNT, LZCNT: every x86 CPU
//! since 2013–2015), chosen at run time by what the CPU has. The hot loops
//! of evaluation and insight count bits (`count_ones` is a single POPCNT
//! instead of a dozen shifts and masks, and vectorizes with AVX2) and walk
//! them (`trailing_zeros`, `x & (x - 1)`): the binary stays portable and
//! gets the fast instructions where they exist.
//!
//! [`multiversion!`](crate::multiversion) wraps a function; everything it
//! calls that is `#[inline]` is compiled into both versions.

use std::sync::atomic::{AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
const FAST: u8 = 1;
const BASELINE: u8 = 2;

static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether the x86-64-v3 versions run (the CPU has their features and
/// [`force_baseline`] is off).
#[inline]
pub fn fast() -> bool {
    match LEVEL.load(Ordering::Relaxed) {
        FAST => true,
        BASELINE => false,
        _ => {
            // `SEGDB_CPU=baseline` keeps the baseline versions (to measure
            // what the fast ones gain, or rule them out).
            let fast = std::env::var("SEGDB_CPU").map_or(true, |v| v != "baseline") && detect();
            LEVEL.store(if fast { FAST } else { BASELINE }, Ordering::Relaxed);
            fast
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("bmi1")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("popcnt")
        && std::is_x86_feature_detected!("lzcnt")
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> bool {
    false
}

/// Whether the AVX-512 kernels run: the x86-64-v3 ones do ([`fast`]),
/// the CPU has AVX-512 F, BW, VL and VBMI2, and `SEGDB_CPU` is not `avx2`
/// (which keeps the AVX2 kernels, to measure what these gain).
#[inline]
pub fn avx512() -> bool {
    static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    fast()
        && *AVX512.get_or_init(|| {
            std::env::var("SEGDB_CPU").map_or(true, |v| v != "avx2") && detect_avx512()
        })
}

#[cfg(target_arch = "x86_64")]
fn detect_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vbmi2")
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_avx512() -> bool {
    false
}

/// Runs the baseline versions from now on (`true`), or the fast ones again
/// where the CPU has them (`false`): for tests that check both give the
/// same answers, and for measuring what the fast ones gain.
#[doc(hidden)]
pub fn force_baseline(on: bool) {
    LEVEL.store(if on { BASELINE } else { UNKNOWN }, Ordering::Relaxed);
}

/// The CPU level the kernels run at, for logs and `segdb bench`.
pub fn level() -> &'static str {
    if avx512() {
        "x86-64-v3 (AVX2, BMI2, POPCNT) and AVX-512 (VBMI2) array filters"
    } else if fast() {
        "x86-64-v3 (AVX2, BMI2, POPCNT)"
    } else {
        "baseline"
    }
}

/// Defines a function compiled twice (see [the module](crate::cpu)): the
/// body once as written and once with the x86-64-v3 target features, the
/// latter called when [`fast`] says so. Arguments are plain identifiers
/// (rebind with `let mut f = f;` inside for a closure that must be `mut`).
#[macro_export]
macro_rules! multiversion {
    (
        $(#[$m:meta])*
        $vis:vis fn $name:ident $(<$($lt:lifetime),*>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$m])*
        $vis fn $name $(<$($lt),*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
                fn v3 $(<$($lt),*>)? ($($arg: $ty),*) $(-> $ret)? $body
                if $crate::cpu::fast() {
                    // SAFETY: `fast()` found every feature `v3` is compiled
                    // for on this CPU.
                    #[allow(unsafe_code)]
                    return unsafe { v3($($arg),*) };
                }
            }
            $body
        }
    };
}

/// Asks the CPU to start bringing the cache line of `b[at]` into its
/// caches, without waiting for it (nothing if `at` is outside `b`, or on
/// another architecture). Lookups in batches use it: unlike a load, a
/// prefetch retires at once, so the misses of a whole batch are in flight
/// together instead of as many as the out-of-order window holds.
#[inline(always)]
pub fn prefetch(b: &[u8], at: usize) {
    prefetch_at(b, at);
}

/// [`prefetch`] of the cache line of element `s[i]` of any slice.
#[inline(always)]
pub fn prefetch_at<T>(s: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = s.get(i) {
        // SAFETY: a prefetch is a hint: it never faults and changes nothing
        // the program can see, and the pointer is into `s` anyway.
        #[allow(unsafe_code)]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (p as *const T).cast::<i8>(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (s, i);
}

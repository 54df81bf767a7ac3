// MC2_UNROLL(n): `#pragma GCC unroll n` on the loop that follows. GCC below -O2 may drop the
// annotation with a warning that has no option to silence it ("ignoring loop annotation"), which
// -Werror turns into an error; the sanitizer preset (asan, -O1) defines MC2_NO_UNROLL_PRAGMAS.
#pragma once

#define MC2_PRAGMA_(x) _Pragma(#x)
#if defined(MC2_NO_UNROLL_PRAGMAS) || !defined(__GNUC__)
#define MC2_UNROLL(n)
#elif defined(__clang__)
#define MC2_UNROLL(n) MC2_PRAGMA_(unroll n)
#else
#define MC2_UNROLL(n) MC2_PRAGMA_(GCC unroll n)
#endif

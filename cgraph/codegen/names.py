"""C identifiers for graph variables: the user's names where possible, unique and safe."""
import keyword
import re

# C keywords, libc/libm names the generated code calls, and the locals that templates use.
_RESERVED = set("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while bool true false NULL int8_t int16_t int32_t int64_t
uint8_t uint64_t size_t malloc free memcpy memset snprintf fabs fabsf exp expf exp2 exp2f expm1
expm1f log logf log2 log2f log10 log10f log1p log1pf sqrt sqrtf tanh tanhf sinh sinhf cosh
coshf sin sinf cos cosf tan tanf asin asinf acos acosf atan atanf atan2 atan2f erf erff erfc
erfcf floor floorf ceil ceilf trunc truncf nearbyint nearbyintf pow powf fmod fmodf isnan
isinf copysign copysignf INFINITY NAN n i j k m po buf nbytes fresh status pool err errlen
fail_node in_data in_shape out_data out_shape outputs_done names arrays main
""".split())
_TEMPLATE_LOCAL = re.compile(r"^(a|p|s|i|o|st|q|r|t|d|ix|off|len|idx)\d*(_\d+)?$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NameTable:
    """Hands out unique C names."""

    def __init__(self):
        self.used = set()

    def make(self, preferred, fallback):
        base = preferred if preferred and _IDENT.match(preferred) else None
        if base is None and preferred:
            cleaned = re.sub(r"[^A-Za-z0-9_]", "_", preferred).strip("_")
            base = cleaned if cleaned and _IDENT.match(cleaned) else None
        if base is None:
            base = fallback
        if (base in _RESERVED or base.startswith("cg_") or _TEMPLATE_LOCAL.match(base)
                or keyword.iskeyword(base)):
            base = base + "_v"
        name, k = base, 2
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

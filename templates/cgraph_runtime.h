/* The runtime library's header, as graph modules include it by name (#include
   "cgraph_runtime.h"): they compile with -I to this folder (cgraph/cache/compiler.py
   RUNTIME_INCLUDE), and the header itself is runtime.h beside this file. */
#include "runtime.h"

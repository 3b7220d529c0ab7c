#include "arena.h"

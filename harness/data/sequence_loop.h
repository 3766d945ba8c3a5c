/* sequence_loop.h - the runtime of the sequence driver's native loop (harness.sequence.native).
 *
 * harness.sequence.native generates one C file per contract: a step function per planned
 * function, then includes this file's helpers above them. Together they decode an input
 * exactly as the Python driver does (harness.engine.data_provider's ConsumeIntInRange and
 * ConsumeBytes, the same choices in the same order: values.py, driver.py, results.py) and
 * make the same calls, so a finding of the fast path replays, traces and triages through the
 * Python one. Everything here is per input (one global run: a worker runs one input at a time).
 * The generated file defines steps[] (a step per planned function) and function_names[] before
 * it includes this one.
 */
#ifndef FFIH_SEQUENCE_LOOP_H
#define FFIH_SEQUENCE_LOOP_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef __int128 i128;

#define MAX_BYTES 96
#define MAX_RESULT 4096  /* the last result may be longer (values.py's MAX_RESULT) */
#define EDITED_OFFSETS 64  /* values.py's EDITED_OFFSETS */
#define POOL 16
#define MAX_ARGS 16
#define FEEDBACK 16384

/* -- the decoder: atheris's FuzzedDataProvider (harness.engine.data_provider) --------------- */
static const uint8_t *in_data;
static size_t in_head, in_tail;

static size_t remaining(void) { return in_tail - in_head; }

/* ConsumeIntInRange: bytes from the end, most significant first, then modulo the range;
 * FuzzedChoices.int gives low when high <= low. */
static i128 choose(i128 low, i128 high) {
    if (high <= low) return low;
    unsigned __int128 span = (unsigned __int128)(high - low);
    uint64_t result = 0;
    for (int offset = 0; offset < 64 && (span >> offset) && in_tail > in_head; offset += 8)
        result = (result << 8) | in_data[--in_tail];
    if (span != UINT64_MAX) result %= (uint64_t)(span + 1);
    return low + (i128)result;
}

/* ConsumeBytes(ConsumeIntInRange(0, max)): up to max bytes from the front. */
static size_t take_bytes(uint8_t *out, size_t max) {
    size_t want = (size_t)choose(0, (i128)max);
    size_t have = remaining() < want ? remaining() : want;
    memcpy(out, in_data + in_head, have);
    in_head += have;
    return have;
}

/* -- what one input keeps ------------------------------------------------------------------ */
typedef struct {
    int type, serial;
    void *pointer;
    void **kept;  /* inputs the library keeps using until this handle is freed */
    int nkept, capkept;
    /* a borrowed handle (a child the library lends): from owner (a serial), ended when it ends
     * or one of until (step indices; -1: any call) is called on it; never freed by the driver */
    int owner, borrowed, nuntil;
    const int *until;
} LoopHandle;

static LoopHandle *handles;
static int nhandles, caphandles, made, lent;
static void **keep;  /* freed at the input's end */
static int nkeep, capkeep;
static struct { uint8_t bytes[MAX_BYTES]; size_t len; } strings[POOL];
static struct { uint8_t bytes[MAX_RESULT]; size_t len; } last_result;
static int nstrings, has_last_result;
static int edited;  /* the call being made is given edited reused bytes: edited_field (observe) */
static i128 ints[POOL];
static int nints;
static int previous = -1;

static void *grow(void *array, int *cap, size_t item) {
    *cap = *cap ? *cap * 2 : 16;
    void *bigger = realloc(array, (size_t)*cap * item);
    if (!bigger) abort();
    return bigger;
}

static void push_int(int **list, int *n, int *cap, int value) {
    if (*n == *cap) *list = grow(*list, cap, sizeof(int));
    (*list)[(*n)++] = value;
}

static void push_pointer(void ***list, int *n, int *cap, void *pointer) {
    if (*n == *cap) *list = grow(*list, cap, sizeof(void *));
    (*list)[(*n)++] = pointer;
}

static void remember(const uint8_t *bytes, size_t len) {  /* ValueMixin._remember */
    if (len > MAX_BYTES) return;
    for (int i = 0; i < nstrings; i++)
        if (strings[i].len == len && !memcmp(strings[i].bytes, bytes, len)) return;
    if (nstrings == POOL) {
        memmove(&strings[0], &strings[1], sizeof strings[0] * (POOL - 1));
        nstrings--;
    }
    memcpy(strings[nstrings].bytes, bytes, len);
    strings[nstrings++].len = len;
}

/* ValueMixin._remember(..., result=True): bytes a call handed back */
static void remember_result(const uint8_t *bytes, size_t len) {
    remember(bytes, len);
    if (len > MAX_RESULT) return;
    memcpy(last_result.bytes, bytes, len);
    last_result.len = len;
    has_last_result = 1;
}

static uint64_t field(const uint8_t *bytes, size_t len, size_t at, size_t width) {  /* values.py's _field */
    uint64_t value = 0;
    for (size_t k = 0; k < width && at + k < len; k++) value |= (uint64_t)bytes[at + k] << (8 * k);
    return value;
}

/* harness.sequence.values.edit: one little-endian field of 1, 2 or 4 bytes (at a multiple of its
 * size) set near its old value or its edges, or the bytes cut short there; the new length, and
 * the field's offset in *where. Half the time the field is one whose value is at most len (a
 * count, an offset, a length, a type). */
static size_t edit(uint8_t *bytes, size_t len, size_t *where) {
    static const size_t widths[] = {1, 2, 4};
    static uint32_t fits[MAX_RESULT];
    size_t width = widths[choose(0, 2)], slots = (len - 1) / width + 1, nfits = 0, at;
    if (choose(0, 1) == 0)
        for (size_t k = 0; k < slots; k++)
            if (field(bytes, len, k * width, width) <= len) fits[nfits++] = (uint32_t)k;
    at = width * (nfits ? fits[choose(0, (i128)nfits - 1)] : (size_t)choose(0, (i128)slots - 1));
    if (width > len - at) width = len - at;
    uint64_t top = ((uint64_t)1 << (8 * width)) - 1, old = field(bytes, len, at, width), value;
    int pick = (int)choose(0, 7);
    *where = at;
    switch (pick) {
    case 7: return at;
    case 0: value = (uint64_t)choose(0, (i128)top); break;
    case 1: value = old + 1; break;
    case 2: value = old - 1; break;
    case 3: value = 0; break;
    case 4: value = top; break;
    case 5: value = top >> 1; break;
    default: value = (top >> 1) + 1; break;
    }
    value &= top;
    for (size_t k = 0; k < width; k++) bytes[at + k] = (uint8_t)(value >> (8 * k));
    return len;
}

/* Fresh bytes half the time; else bytes this input passed or got back before (half of those
 * times the last bytes a call handed back), some of them edited: a quarter from the pool, half
 * of the last result (ValueMixin._text). */
static size_t text(uint8_t *out) {  /* out: MAX_RESULT bytes */
    int pick = nstrings ? (int)choose(0, 3) : 3;
    if (pick <= 1) {
        size_t len;
        int latest = pick == 1 && has_last_result;
        if (latest) {
            len = last_result.len;
            memcpy(out, last_result.bytes, len);
        } else {
            int i = (int)choose(0, nstrings - 1);
            len = strings[i].len;
            memcpy(out, strings[i].bytes, len);
        }
        if (len && choose(0, 3) >= (latest ? 2 : 3)) {
            size_t at;
            len = edit(out, len, &at);
            remember(out, len);
            edited = 1 + (int)(at < EDITED_OFFSETS - 1 ? at : EDITED_OFFSETS - 1);  /* edited_field */
        }
        return len;
    }
    size_t len = take_bytes(out, MAX_BYTES);
    remember(out, len);
    return len;
}

static size_t strip_nul(uint8_t *bytes, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (bytes[i]) bytes[n++] = bytes[i];
    return n;
}

static void *exact_block(const void *bytes, size_t len) {  /* harness.engine.driving.exact_buffer */
    void *block = malloc(len ? len : 1);
    if (!block) abort();
    if (len) memcpy(block, bytes, len);
    return block;
}

static void take_int(i128 value) {
    if (nints < POOL) ints[nints++] = value;
}

/* ValueMixin._int: near the edges (of the type, or of the `ranges` bounds), small, or reused. */
static i128 edge_int(i128 low, i128 high, int bounded) {
    int pick = (int)choose(0, 7);
    i128 value;
    if (pick == 0 && nints) {
        value = ints[choose(0, nints - 1)];
    } else if (pick <= 2) {
        value = choose(0, 16) + (bounded ? low : 0);
    } else {
        i128 any = choose(low, high);  /* the Python tuple evaluates every item */
        i128 edges[] = {0, 1, -1, high, low, any};
        value = edges[pick - 2];
    }
    return value < low ? low : value > high ? high : value;
}

/* -- handles ------------------------------------------------------------------------------- */
static int index_of(int serial) {
    for (int i = 0; i < nhandles; i++)
        if (handles[i].serial == serial) return i;
    return -1;
}

/* state.py's Handle.within: a is b, or was borrowed from it (at any depth). */
static int within(int a, int b) {
    for (int i; a; a = handles[i].owner) {
        if (a == b) return 1;
        if ((i = index_of(a)) < 0) return 0;
    }
    return 0;
}

static int live_count(int type, int owned) {  /* with owned: only those the driver made */
    int n = 0;
    for (int i = 0; i < nhandles; i++) n += handles[i].type == type && !(owned && handles[i].borrowed);
    return n;
}

static int add_handle(LoopHandle handle) {
    if (nhandles == caphandles) handles = grow(handles, &caphandles, sizeof *handles);
    handle.serial = ++made;
    handles[nhandles++] = handle;
    if (handle.borrowed) lent++;
    return handle.serial;
}

static void forget_all(const int *gone, int ngone, int destroyed);

/* An owned handle; an object the library lent before and now hands over is no longer a borrow. */
static int new_handle(int type, void *pointer) {
    for (int i = 0; lent && i < nhandles; i++)
        if (handles[i].borrowed && handles[i].pointer == pointer) {
            int serial = handles[i].serial;
            forget_all(&serial, 1, 0);
            i = -1;
        }
    return add_handle((LoopHandle){.type = type, .pointer = pointer});
}

/* A handle the library lends: from owner until one of `until` is called on it (static: owner 0). */
static int lent_handle(int type, void *pointer, int owner, const int *until, int nuntil) {
    return add_handle((LoopHandle){.type = type, .pointer = pointer, .owner = owner, .borrowed = 1,
                                   .until = until, .nuntil = nuntil});
}

/* One call being made: each argument's value, the bytes it was made from (for the record),
 * and the blocks freed after the call. */
typedef struct {
    i128 v[MAX_ARGS];
    double f[MAX_ARGS];
    void *p[MAX_ARGS];
    int serial[MAX_ARGS];  /* the handle given, or 0 */
    size_t len[MAX_ARGS], cap[MAX_ARGS], shown[MAX_ARGS];
    int owned[MAX_ARGS];  /* p[i] is a block to free after the call */
} Call;

/* A live handle of type for argument i (values.py's handle role), 0 when there is none. With
 * owned only those the driver made. Taken (handed over): none that an argument decoded before
 * is inside; else none inside a handle this call hands over (`others`: their argument indices). */
static int pick_handle(Call *c, int i, int type, int owned, int taken, const int *others, int nothers) {
    int live[nhandles + 1], n = 0;
    for (int k = 0; k < nhandles; k++) {
        LoopHandle *h = &handles[k];
        int clash = 0;
        if (h->type != type || (owned && h->borrowed)) continue;
        for (int j = 0; j < nothers && !clash; j++) {
            int other = c->serial[others[j]];
            clash = other && (taken ? within(other, h->serial) : within(h->serial, other));
        }
        if (!clash) live[n++] = k;
    }
    if (!n) return 0;
    LoopHandle *h = &handles[live[choose(0, n - 1)]];
    c->p[i] = h->pointer;
    c->serial[i] = h->serial;
    return 1;
}

/* child_of: a handle of type borrowed from a live handle of the parent's type. */
static int pick_child(Call *c, int i, int type, int parent_type) {
    int live[nhandles + 1], n = 0;
    for (int k = 0; k < nhandles; k++) {
        int owner = handles[k].owner ? index_of(handles[k].owner) : -1;
        if (handles[k].type == type && owner >= 0 && handles[owner].type == parent_type) live[n++] = k;
    }
    if (!n) return 0;
    LoopHandle *h = &handles[live[choose(0, n - 1)]];
    c->p[i] = h->pointer;
    c->serial[i] = h->serial;
    return 1;
}

static void parent_of(Call *c, int i, int child) {
    int k = index_of(handles[index_of(c->serial[child])].owner);
    c->p[i] = handles[k].pointer;
    c->serial[i] = handles[k].serial;
}

static void keep_with(int serial, void *block) {  /* `keeps`: alive until the keeper is freed */
    int i = serial ? index_of(serial) : -1;
    if (!block) return;
    if (i < 0) {
        push_pointer(&keep, &nkeep, &capkeep, block);
        return;
    }
    LoopHandle *h = &handles[i];
    push_pointer(&h->kept, &h->nkept, &h->capkept, block);
}

/* -- arguments (values.py, role by role) --------------------------------------------------- */
static void arg_text(Call *c, int i, int nullable, int heap) {  /* cstring, takes */
    if (nullable && choose(0, 15) == 0) return;
    uint8_t bytes[MAX_RESULT + 1];
    size_t len = strip_nul(bytes, text(bytes));
    bytes[len] = 0;
    c->p[i] = exact_block(bytes, len + 1);
    c->shown[i] = len;
    c->owned[i] = !heap;  /* a taken string is the library's from now on */
}

static void arg_buffer(Call *c, int i, size_t item, int nullable, int taken) {
    uint8_t bytes[MAX_RESULT];
    size_t len = text(bytes);
    len -= len % item;
    c->len[i] = len / item;
    c->shown[i] = len;
    if (nullable && !len && choose(0, 3) == 0) return;
    c->p[i] = exact_block(bytes, len);
    c->owned[i] = !taken;
}

static void arg_out_buffer(Call *c, int i, size_t item) {
    i128 free64 = choose(0, 64), free256 = choose(0, 256);
    size_t caps[] = {0, 1, 2, 8, (size_t)free64, (size_t)free256};
    size_t cap = caps[choose(0, 5)];
    c->cap[i] = cap;
    c->p[i] = malloc(cap * item ? cap * item : 1);
    if (!c->p[i]) abort();
    memset(c->p[i], 0xa5, cap * item);
    c->owned[i] = 1;
}

static void arg_cell(Call *c, int i, size_t size) {
    c->p[i] = calloc(1, size);
    if (!c->p[i]) abort();
    c->owned[i] = 1;
}

static void arg_float(Call *c, int i) {
    double values[] = {0.0, 1.0, -1.0, 1e308, NAN};
    c->f[i] = values[choose(0, 4)];
}

static void arg_token(Call *c, int i) {  /* user_data: the driver's own byte, alive to the input's end */
    c->p[i] = calloc(1, 1);
    if (!c->p[i]) abort();
    push_pointer(&keep, &nkeep, &capkeep, c->p[i]);
}

static void release_args(Call *c, int n) {
    for (int i = 0; i < n; i++)
        if (c->owned[i]) free(c->p[i]);
}

/* -- contract violations (driver.py's list): the first one ends the input ------------------ */
static int violated, depth, tearing_down;
static const char *violation_kind = "";
static char violation_detail[512], violation_function[128];
static const char *calling = "";  /* the library function being called (a callback's blame) */

static void flag(const char *kind, const char *function, const char *format, ...) {
    if (violated) return;
    va_list args;
    violated = 1;
    violation_kind = kind;
    snprintf(violation_function, sizeof violation_function, "%s", function ? function : calling);
    va_start(args, format);
    vsnprintf(violation_detail, sizeof violation_detail, format, args);
    va_end(args);
}

/* -- borrowed results (results.py's Borrow): checked after each later call ------------------ */
#define MAX_BORROWS 8
typedef struct {
    int function, owner;          /* who lent it: a handle serial, or 0 */
    const int *until;             /* step indices that end it; -1: any call */
    int nuntil, cstring;
    const void *pointer;
    size_t len;                   /* the snapshot's length (a C string is measured again) */
    uint8_t *snapshot;
} Borrow;
static Borrow borrows[MAX_BORROWS];
static int nborrows;

static void drop_borrow(int i) {
    free(borrows[i].snapshot);
    memmove(&borrows[i], &borrows[i + 1], sizeof *borrows * (size_t)(nborrows - i - 1));
    nborrows--;
}

static void borrow(int function, int owner, const int *until, int nuntil, const void *pointer, size_t len,
                   int cstring) {
    if (nborrows == MAX_BORROWS) drop_borrow(0);
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) abort();
    memcpy(copy, pointer, len);
    borrows[nborrows++] = (Borrow){function, owner, until, nuntil, cstring, pointer, len, copy};
}

/* The call ends b when one of its handles is b's owner or another handle of the same object
 * (dt_get and dt_child may lend one child through two handles), and it is one of b's until. */
static int ends_borrow(const Borrow *b, int step, const int *serials, int nserials) {
    int touched = !b->owner, at = b->owner ? index_of(b->owner) : -1;
    void *owner = at >= 0 ? handles[at].pointer : NULL;
    for (int k = 0; k < nserials; k++) {
        int other = index_of(serials[k]);
        touched |= serials[k] == b->owner || (owner && other >= 0 && handles[other].pointer == owner);
    }
    for (int k = 0; k < b->nuntil; k++)
        if (b->until[k] == -1 || (touched && b->until[k] == step)) return 1;
    return 0;
}

/* results.py's _check_borrows: after a call, each borrow it did not end must be unchanged. */
static void check_borrows(int step, const int *serials, int nserials, int destroyed) {
    for (int i = 0; i < nborrows;) {
        Borrow *b = &borrows[i];
        if ((destroyed && b->owner == destroyed) || ends_borrow(b, step, serials, nserials)) {
            drop_borrow(i);
            continue;
        }
        if (!depth) {
            size_t len = b->cstring ? strlen(b->pointer) : b->len;
            if (len != b->len || memcmp(b->pointer, b->snapshot, len)) {
                flag("borrowed-changed", function_names[b->function], "the result of %s changed during %s "
                     "although the contract says it is still valid", function_names[b->function],
                     function_names[step]);
                drop_borrow(i);
                continue;
            }
        }
        i++;
    }
}

static void forget_borrows(int serial) {
    for (int i = 0; i < nborrows;)
        if (borrows[i].owner == serial) drop_borrow(i);
        else i++;
}

/* -- callback registrations (state.py's LiveRegistration, callbacks.py) --------------------- */
typedef struct {
    i128 id;
    int owner, function, has_release, ended, released, ending;
    int dropped;  /* its owner (a borrowed handle) ended: no longer judged */
    void *token;
} Registration;
static Registration *regs;
static int nregs, capregs;
static int *deferred;  /* ended inside a callback: their release may come when the dispatch returns */
static int ndeferred, capdeferred;

static void registered(i128 id, int owner, int function, int has_release, void *token) {
    if (nregs == capregs) regs = grow(regs, &capregs, sizeof *regs);
    regs[nregs++] = (Registration){.id = id, .owner = owner, .function = function, .has_release = has_release,
                                   .token = token};
}

static int registration_of(const void *token) {
    for (int i = 0; token && i < nregs; i++)
        if (regs[i].token == token && !regs[i].dropped) return i;
    return -1;
}

/* registration_id: a live registration's id (made by function, on one of serials), mostly. */
static int pick_registration(i128 *id, int function, const int *serials, int nserials) {
    int live[nregs + 1], n = 0;
    for (int i = 0; i < nregs; i++) {
        int owned = !regs[i].owner;
        for (int k = 0; k < nserials; k++) owned |= regs[i].owner == serials[k];
        if (!regs[i].ended && !regs[i].dropped && regs[i].function == function && owned) live[n++] = i;
    }
    if (!n || choose(0, 7) == 0) return 0;
    *id = regs[live[choose(0, n - 1)]].id;
    return 1;
}

static void check_released(const int *ended, int nended) {  /* destructor-not-called */
    for (int k = 0; k < nended + ndeferred; k++) {
        Registration *r = &regs[k < nended ? ended[k] : deferred[k - nended]];
        if (r->has_release && r->released == 0)
            flag("destructor-not-called", 0, "the registration made by %s ended without its release "
                 "function being called", function_names[r->function]);
    }
    ndeferred = 0;
}

/* callbacks.py's _reenter: maybe one of the calls the contract allows from inside a callback. */
static void reenter(const int *allowed, int nallowed) {
    if (!nallowed || depth || remaining() <= 0 || choose(0, 3) != 0) return;
    const char *outer = calling;
    int saved = nregs, *ending = malloc(sizeof(int) * (size_t)(nregs + 1));
    if (!ending) abort();
    for (int i = 0; i < nregs; i++) ending[i] = regs[i].ending;
    depth++;
    steps[allowed[choose(0, nallowed - 1)]]();
    depth--;
    calling = outer;
    for (int i = 0; i < nregs; i++) regs[i].ending = i < saved ? ending[i] : 0;
    for (int k = 0; k < ndeferred; k++) regs[deferred[k]].ending = 1;
    free(ending);
}

/* A callback arrived (callbacks.py's _on_callback, after it read the arguments). */
static void on_callback(const void *token, int is_release, const int *const *reentrant, const int *nreentrant) {
    int i = registration_of(token);
    if (i < 0) return;
    Registration *r = &regs[i];
    if (is_release && r->has_release) {
        r->released++;
        if (r->released > 1)
            flag("destructor-called-twice", 0, "release of the registration made by %s called %d times",
                 function_names[r->function], r->released);
        else if (!r->ending)
            flag("destructor-called-early", 0, "release of the registration made by %s called while it was "
                 "still registered", function_names[r->function]);
        return;
    }
    if (r->ended)
        flag("callback-after-unregister", 0, "callback registered by %s called after the registration ended",
             function_names[r->function]);
    else if (!tearing_down)
        reenter(reentrant[r->function], nreentrant[r->function]);
}

/* Before a call: the registrations it may end (so their release may come during it). */
static int *ending_begin(int target, const i128 *ids, int nids, const int *serials, int nserials, int *nended) {
    int *ended = malloc(sizeof(int) * (size_t)(nregs + 1));
    if (!ended) abort();
    *nended = 0;
    if (target)
        for (int i = 0; i < nregs; i++) regs[i].ending = regs[i].owner == target && !regs[i].ended && !regs[i].dropped;
    for (int i = 0; nids && i < nregs; i++) {
        Registration *r = &regs[i];
        if (r->dropped) continue;
        int named = 0, owned = !r->owner;
        for (int k = 0; k < nids; k++) named |= ids[k] == r->id;
        for (int k = 0; k < nserials; k++) owned |= serials[k] == r->owner;
        if (!r->ended && named && owned) {
            ended[(*nended)++] = i;
            r->ending = 1;
        }
    }
    return ended;
}

/* After a destructor: every registration on its handle ended with it. */
static int *ending_owned_by(int target, int *ended, int *nended) {
    ended = realloc(ended, sizeof(int) * (size_t)(*nended + nregs + 1));
    if (!ended) abort();
    for (int i = 0; i < nregs; i++)
        if (regs[i].owner == target && !regs[i].ended && !regs[i].dropped) ended[(*nended)++] = i;
    return ended;
}

static void ending_end(int *ended, int nended) {
    for (int k = 0; k < nended; k++) regs[ended[k]].ended = 1;
    if (depth) {  /* inside a callback: the release may come when the dispatch returns */
        for (int k = 0; k < nended; k++) push_int(&deferred, &ndeferred, &capdeferred, ended[k]);
    } else if (nended || ndeferred) {
        check_released(ended, nended);
    }
    for (int i = 0; i < nregs; i++) regs[i].ending = 0;
    free(ended);
}

/* driver.py's _forget: drop the handles that ended and everything borrowed from them, with the
 * borrows they own. What a handle kept is freed when it was destroyed, else kept to the end. */
static void forget_all(const int *gone, int ngone, int destroyed) {
    int dead[nhandles + 1], ndead = 0;
    for (int i = 0; i < nhandles; i++) {
        int is_dead = 0;
        for (int g = 0; g < ngone && !is_dead; g++)
            is_dead = lent ? within(handles[i].serial, gone[g]) : handles[i].serial == gone[g];
        if (is_dead) dead[ndead++] = handles[i].serial;
    }
    for (int d = 0; d < ndead; d++) {
        int i = index_of(dead[d]);
        LoopHandle h = handles[i];
        memmove(&handles[i], &handles[i + 1], sizeof *handles * (size_t)(nhandles - i - 1));
        nhandles--;
        lent -= h.borrowed;
        for (int k = 0; k < h.nkept; k++) {
            if (h.serial == destroyed) free(h.kept[k]);
            else push_pointer(&keep, &nkeep, &capkeep, h.kept[k]);
        }
        free(h.kept);
    }
    for (int d = 0; d < ndead; d++) forget_borrows(dead[d]);
}

/* driver.py's _ending_handles, before a call: the handles it ends - the one it destroys, those
 * it is handed, and borrowed ones it invalidates (`until`, by the address of their owner). A
 * registration on something borrowed from them is no longer judged. */
static int ending_handles(int *gone, int target, const int *taken, int ntaken, const Call *c, const int *args,
                          int nargs, int step) {
    int n = 0;
    if (target) gone[n++] = target;
    for (int k = 0; k < ntaken; k++)
        if (taken[k]) gone[n++] = taken[k];
    if (!lent) return n;
    for (int i = 0; i < nhandles; i++) {
        LoopHandle *h = &handles[i];
        int ends = 0, owner = h->owner ? index_of(h->owner) : -1;
        if (!h->borrowed) continue;
        for (int k = 0; k < h->nuntil && !ends; k++) {
            if (h->until[k] == -1) ends = 1;
            else if (h->until[k] == step && owner >= 0)
                for (int a = 0; a < nargs && !ends; a++) ends = c->serial[args[a]] && c->p[args[a]] == handles[owner].pointer;
        }
        if (ends) gone[n++] = h->serial;
    }
    for (int r = 0; r < nregs; r++) {
        int owner = regs[r].owner ? index_of(regs[r].owner) : -1;
        for (int g = 0; owner >= 0 && handles[owner].borrowed && !regs[r].dropped && g < n; g++)
            if (within(regs[r].owner, gone[g])) regs[r].dropped = 1;
    }
    return n;
}

static void callback_string(const char *text) {
    if (text) remember((const uint8_t *)text, strlen(text));
}

#define CALLBACK_READ_LIMIT (1 << 16)
static void callback_buffer(const void *pointer, i128 count, size_t item) {
    if (!pointer || count <= 0) return;
    size_t n = (size_t)count * item < CALLBACK_READ_LIMIT ? (size_t)count * item : CALLBACK_READ_LIMIT;
    uint8_t *copy = malloc(n ? n : 1), last[64];
    if (!copy) abort();
    memcpy(copy, pointer, n);
    memcpy(last, (const uint8_t *)pointer + ((size_t)count - 1) * item, item < sizeof last ? item : sizeof last);
    remember(copy, n);
    free(copy);
}

/* -- results ------------------------------------------------------------------------------- */
/* A call's result class, as harness.sequence.trace.outcome names it, numbered. */
enum { OUT_NULL, OUT_PTR, OUT_NEG = 6, OUT_BITS = 7, OUT_NONE = 200, OUT_FLOAT, OUT_BOOL };

static int int_outcome(i128 value) {
    if (value < 0) return value >= -4 ? (int)(1 - value) : OUT_NEG;
    int bits = 0;
    for (unsigned __int128 v = (unsigned __int128)value; v; v >>= 1) bits++;
    return OUT_BITS + bits;
}

static uint8_t feedback[FEEDBACK];
static uintptr_t feedback_pcs[2 * FEEDBACK];
void __sanitizer_cov_8bit_counters_init(uint8_t *, uint8_t *) __attribute__((weak));
void __sanitizer_cov_pcs_init(const uintptr_t *, const uintptr_t *) __attribute__((weak));

/* Behaviour feedback (harness.engine.coverage): the call's outcome (given edited bytes or not,
 * and which field was edited), and with the call before. */
static void observe(int function, int outcome) {
    uint32_t event = (uint32_t)((function * 257 + outcome) * (EDITED_OFFSETS + 1) + edited) * 2654435761u;
    outcome += edited ? 300 : 0;
    edited = 0;
    uint32_t pair = (uint32_t)((previous + 1) * 65599 + function * 257 + outcome) * 2246822519u;
    feedback[(event >> 8) % FEEDBACK]++;
    feedback[(pair >> 8) % FEEDBACK]++;
    previous = function;
}

/* -- the record (tests: the fast path makes the calls the Python path makes) ---------------- */
static int recording;
static char *record;
static size_t record_len, record_cap;

static void say(const char *format, ...) {
    va_list args;
    for (;;) {
        va_start(args, format);
        int n = vsnprintf(record + record_len, record_cap - record_len, format, args);
        va_end(args);
        if (n >= 0 && record_len + (size_t)n < record_cap) {
            record_len += (size_t)n;
            return;
        }
        record_cap = record_cap ? record_cap * 2 + (size_t)n : 4096;
        record = realloc(record, record_cap);
        if (!record) abort();
    }
}

/* What was said since mark, taken out of the record (a call's arguments, said after its result). */
static char *take_said(size_t mark) {
    size_t n = record_len - mark;
    char *text = malloc(n + 1);
    if (!text) abort();
    memcpy(text, record + mark, n);
    text[n] = 0;
    record_len = mark;
    return text;
}

static void say_int(i128 value) {
    char digits[48], *end = digits + sizeof digits - 1;
    unsigned __int128 v = value < 0 ? -(unsigned __int128)value : (unsigned __int128)value;
    *end = 0;
    do *--end = (char)('0' + (int)(v % 10)); while (v /= 10);
    say("%s%s", value < 0 ? "-" : "", end);
}

static void say_bytes(const void *bytes, size_t len) {
    const uint8_t *b = bytes;
    say("x");
    for (size_t i = 0; i < len; i++) say("%02x", b[i]);
}

/* One argument as harness.sequence.trace.record_call shows it; role as in native.py's ROLES. */
static void say_arg(const Call *c, int i, char role) {
    if (i) say(", ");
    switch (role) {
    case 'h': c->serial[i] ? say("h%d", c->serial[i]) : say("NULL"); break;
    case 's': case 't': case 'b': c->p[i] ? say_bytes(c->p[i], c->shown[i]) : say("NULL"); break;
    case 'o': say("out[%zu]", c->cap[i]); break;
    case 'C': say("&%zu", c->cap[i]); break;
    case 'n': say("NULL"); break;
    case 'e': say("&"); break;
    case 'F': say(c->p[i] ? "fn" : "NULL"); break;
    case 'u': say("ud"); break;
    case 'f': say("%.17g", c->f[i]); break;
    case 'c': say("%d", (int)(unsigned char)c->v[i]); break;
    default: say_int(c->v[i]);
    }
}

/* -- the run ------------------------------------------------------------------------------- */
static void start_run(const uint8_t *data, size_t size) {
    in_data = data;
    in_head = 0;
    in_tail = size;
    nhandles = made = lent = nkeep = nstrings = has_last_result = edited = nints = nregs = ndeferred = violated = depth = tearing_down = 0;
    calling = "";
    while (nborrows) drop_borrow(nborrows - 1);
    previous = -1;
    record_len = 0;
    if (record) record[0] = 0;
}

/* The input is over: what it kept is freed, and no copy of a pointer the library returned stays
 * in the loop's own memory (vacated slots of its arrays included). LeakSanitizer scans that memory
 * conservatively: a stale copy made a block the library leaked look reachable. */
static void end_run(void) {
    for (int k = 0; k < nkeep; k++) free(keep[k]);
    nkeep = 0;
    while (nborrows) drop_borrow(nborrows - 1);
    memset(borrows, 0, sizeof borrows);
    if (handles) memset(handles, 0, (size_t)caphandles * sizeof *handles);
    if (keep) memset(keep, 0, (size_t)capkeep * sizeof *keep);
    if (regs) memset(regs, 0, (size_t)capregs * sizeof *regs);
    memset(strings, 0, sizeof strings);  /* a result read as bytes may hold a library pointer */
    memset(&last_result, 0, sizeof last_result);
    nhandles = nregs = nstrings = has_last_result = 0;
}

#endif

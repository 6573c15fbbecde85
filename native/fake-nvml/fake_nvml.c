/*
 * A fake libnvidia-ml.so.1 for machines without an NVIDIA GPU.
 *
 * It exports the NVML functions aisys_verify.gpu reads, with the signatures of NVIDIA's own
 * nvml.h (PyPI nvidia-nvml-dev), so the real pynvml ctypes bindings load it through
 * LD_LIBRARY_PATH and run unchanged. Devices, MIG geometry, processes and a utilisation time
 * series come from the JSON file named by AISYS_FAKE_NVML_CONFIG (see the devices folder and
 * docs/gpu.md). Behaviour follows the real library where the tests depend on it:
 *   - a GPU without MIG answers nvmlDeviceGetMigMode with NVML_ERROR_NOT_SUPPORTED;
 *   - functions not exported here give pynvml's NVMLError_FunctionNotFound;
 *   - no or unreadable config gives NVML_ERROR_DRIVER_NOT_LOADED at init, as with no driver.
 * Only reads are implemented: nothing here can change MIG mode or create instances.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>
#include <nvml.h>

/* ---- a minimal JSON reader (objects, arrays, strings without \u escapes, numbers, literals) ---- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
typedef struct jnode {
    enum jtype type;
    double num;
    char *str;              /* J_STR value */
    char *key;              /* member name when inside an object */
    struct jnode *child;    /* first element / member */
    struct jnode *next;
} jnode;

static const char *jp;
static int jfail;

static void jws(void) { while (*jp && isspace((unsigned char)*jp)) jp++; }

static jnode *jnew(enum jtype t) {
    jnode *n = calloc(1, sizeof *n);
    if (!n) { jfail = 1; return NULL; }
    n->type = t;
    return n;
}

static char *jstring(void) {
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    if (!out || *jp != '"') { jfail = 1; free(out); return NULL; }
    jp++;
    while (*jp && *jp != '"') {
        char c = *jp++;
        if (c == '\\') {
            c = *jp++;
            if (c == 'n') c = '\n'; else if (c == 't') c = '\t'; else if (c == 0) { jfail = 1; break; }
        }
        if (len + 2 > cap) { cap *= 2; char *grown = realloc(out, cap); if (!grown) { jfail = 1; break; } out = grown; }
        out[len++] = c;
    }
    if (*jp != '"') jfail = 1; else jp++;
    out[len] = 0;
    return out;
}

static jnode *jvalue(void) {
    jws();
    if (jfail) return NULL;
    if (*jp == '{' || *jp == '[') {
        int obj = *jp == '{';
        char close = obj ? '}' : ']';
        jnode *n = jnew(obj ? J_OBJ : J_ARR), **tail;
        if (!n) return NULL;
        tail = &n->child;
        jp++; jws();
        if (*jp == close) { jp++; return n; }
        for (;;) {
            char *key = NULL;
            jws();
            if (obj) {
                key = jstring(); jws();
                if (jfail || *jp != ':') { jfail = 1; free(key); return n; }
                jp++;
            }
            jnode *v = jvalue();
            if (!v) { free(key); jfail = 1; return n; }
            v->key = key;
            *tail = v; tail = &v->next;
            jws();
            if (*jp == ',') { jp++; continue; }
            if (*jp == close) { jp++; return n; }
            jfail = 1; return n;
        }
    }
    if (*jp == '"') { jnode *n = jnew(J_STR); if (n) n->str = jstring(); return n; }
    if (!strncmp(jp, "true", 4)) { jp += 4; jnode *n = jnew(J_BOOL); if (n) n->num = 1; return n; }
    if (!strncmp(jp, "false", 5)) { jp += 5; return jnew(J_BOOL); }
    if (!strncmp(jp, "null", 4)) { jp += 4; return jnew(J_NULL); }
    char *end;
    double d = strtod(jp, &end);
    if (end == jp) { jfail = 1; return NULL; }
    jp = end;
    jnode *n = jnew(J_NUM);
    if (n) n->num = d;
    return n;
}

static void jfree(jnode *n) {
    while (n) {
        jnode *next = n->next;
        jfree(n->child);
        free(n->str);
        free(n->key);
        free(n);
        n = next;
    }
}

static jnode *jget(const jnode *obj, const char *key) {
    if (!obj || obj->type != J_OBJ) return NULL;
    for (jnode *m = obj->child; m; m = m->next) if (m->key && !strcmp(m->key, key)) return m;
    return NULL;
}
static double jnum(const jnode *obj, const char *key, double dflt) {
    const jnode *v = jget(obj, key);
    return v && (v->type == J_NUM || v->type == J_BOOL) ? v->num : dflt;
}
static const char *jstr(const jnode *obj, const char *key, const char *dflt) {
    const jnode *v = jget(obj, key);
    return v && v->type == J_STR ? v->str : dflt;
}

/* ---- the fake devices ---- */

#define MAX_DEVICES 16
#define MAX_MIG 8
#define MAX_PROFILES NVML_GPU_INSTANCE_PROFILE_COUNT
#define MAX_PROCS 32
#define MAX_SERIES 256
#define MIB (1024ULL * 1024ULL)

typedef struct { unsigned pid; unsigned long long used; unsigned gi, ci; int mps; } fake_proc;
typedef struct { int present; unsigned slices, instances, sms; unsigned long long memory_mb; char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE]; } fake_profile;

struct nvmlDevice_st {
    int is_mig;
    struct nvmlDevice_st *parent;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    unsigned long long total, used;
    unsigned compute_mode;
    int mig_capable;
    unsigned mig_current, mig_pending;
    unsigned gi, ci;
    fake_profile profiles[MAX_PROFILES];
    struct nvmlDevice_st *mig[MAX_MIG];
    unsigned n_mig;
    fake_proc procs[MAX_PROCS];
    unsigned n_procs;
    unsigned util[MAX_SERIES], mem_util[MAX_SERIES];
    unsigned n_util;
    unsigned long long util_period_ms;  /* > 0: the series is over time, one value per period since first init */
};

static struct nvmlDevice_st devices[MAX_DEVICES], mig_devices[MAX_DEVICES * MAX_MIG];
static unsigned n_devices, n_mig_devices;
static char driver_version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "550.54.15";
static int cuda_version = 12040;
static int initialised;
/* where each GPU's utilisation series is: kept across nvmlShutdown/nvmlInit, so a sampler that opens NVML
   per sample still walks the series */
static unsigned util_at[MAX_DEVICES];
/* the time-based series' origin: the first successful nvmlInit of the process (monotonic clock) */
static struct timespec util_origin;
static int util_origin_set;

static void copy(char *dst, size_t size, const char *src) { snprintf(dst, size, "%s", src ? src : ""); }

static void read_procs(struct nvmlDevice_st *d, const jnode *list) {
    if (!list || list->type != J_ARR) return;
    for (const jnode *p = list->child; p && d->n_procs < MAX_PROCS; p = p->next) {
        fake_proc *fp = &d->procs[d->n_procs++];
        fp->pid = (unsigned)jnum(p, "pid", 0);
        fp->used = (unsigned long long)jnum(p, "used_mib", 0) * MIB;
        fp->gi = (unsigned)jnum(p, "gpu_instance_id", 0xFFFFFFFF);
        fp->ci = (unsigned)jnum(p, "compute_instance_id", 0xFFFFFFFF);
        fp->mps = (int)jnum(p, "mps", 0);
    }
}

static void read_util(struct nvmlDevice_st *d, const jnode *dev) {
    const jnode *series = jget(dev, "utilization_gpu"), *mem = jget(dev, "utilization_memory");
    if (series && series->type == J_ARR)
        for (const jnode *v = series->child; v && d->n_util < MAX_SERIES; v = v->next) d->util[d->n_util++] = (unsigned)v->num;
    unsigned i = 0;
    if (mem && mem->type == J_ARR)
        for (const jnode *v = mem->child; v && i < MAX_SERIES; v = v->next) d->mem_util[i++] = (unsigned)v->num;
    /* utilization_period_ms: the series is a time series (value k holds from k x period after the first
       nvmlInit, wrapping round), so a gauge sampled at any rate sees the configured levels over time */
    double period = jnum(dev, "utilization_period_ms", 0);
    d->util_period_ms = period > 0 ? (unsigned long long)period : 0;
}

static int load_config(void) {
    const char *path = getenv("AISYS_FAKE_NVML_CONFIG");
    if (!path || !*path) {
        fprintf(stderr, "fake NVML: AISYS_FAKE_NVML_CONFIG is not set: point it at a device JSON file\n");
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "fake NVML: cannot open AISYS_FAKE_NVML_CONFIG=%s\n", path); return 0; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = size < 0 ? NULL : calloc(1, (size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) { fclose(f); free(text); return 0; }
    fclose(f);
    jp = text; jfail = 0;
    jnode *root = jvalue();
    free(text);
    if (jfail || !root || root->type != J_OBJ) {
        fprintf(stderr, "fake NVML: %s is not a JSON object\n", path);
        jfree(root);
        return 0;
    }
    copy(driver_version, sizeof driver_version, jstr(root, "driver_version", driver_version));
    cuda_version = (int)jnum(root, "cuda_version", cuda_version);
    n_devices = n_mig_devices = 0;
    const jnode *list = jget(root, "devices");
    for (const jnode *dev = list ? list->child : NULL; dev && n_devices < MAX_DEVICES; dev = dev->next) {
        struct nvmlDevice_st *d = &devices[n_devices++];
        memset(d, 0, sizeof *d);
        copy(d->name, sizeof d->name, jstr(dev, "name", "NVIDIA Fake GPU"));
        copy(d->uuid, sizeof d->uuid, jstr(dev, "uuid", "GPU-00000000-0000-0000-0000-000000000000"));
        d->total = (unsigned long long)jnum(dev, "memory_total_mib", 0) * MIB;
        d->used = (unsigned long long)jnum(dev, "memory_used_mib", 0) * MIB;
        d->compute_mode = (unsigned)jnum(dev, "compute_mode", NVML_COMPUTEMODE_DEFAULT);
        read_procs(d, jget(dev, "processes"));
        read_util(d, dev);
        const jnode *mig = jget(dev, "mig");
        if (!mig || mig->type != J_OBJ) continue;  /* no MIG on this GPU (GeForce): NOT_SUPPORTED */
        d->mig_capable = 1;
        d->mig_current = (unsigned)jnum(mig, "current", 0);
        d->mig_pending = (unsigned)jnum(mig, "pending", d->mig_current);
        const jnode *profiles = jget(mig, "profiles");
        for (const jnode *p = profiles ? profiles->child : NULL; p; p = p->next) {
            unsigned id = (unsigned)jnum(p, "id", MAX_PROFILES);
            if (id >= MAX_PROFILES) continue;
            fake_profile *fp = &d->profiles[id];
            fp->present = 1;
            copy(fp->name, sizeof fp->name, jstr(p, "name", ""));
            fp->slices = (unsigned)jnum(p, "slices", 1);
            fp->instances = (unsigned)jnum(p, "instances", 1);
            fp->sms = (unsigned)jnum(p, "sms", 0);
            fp->memory_mb = (unsigned long long)jnum(p, "memory_mib", 0);
        }
        const jnode *instances = jget(mig, "devices");
        for (const jnode *m = instances ? instances->child : NULL; m && d->n_mig < MAX_MIG; m = m->next) {
            struct nvmlDevice_st *md = &mig_devices[n_mig_devices++];
            memset(md, 0, sizeof *md);
            md->is_mig = 1;
            md->parent = d;
            snprintf(md->name, sizeof md->name, "%s MIG %s", d->name, jstr(m, "profile", "?"));
            copy(md->uuid, sizeof md->uuid, jstr(m, "uuid", "MIG-00000000-0000-0000-0000-000000000000"));
            md->total = (unsigned long long)jnum(m, "memory_total_mib", 0) * MIB;
            md->used = (unsigned long long)jnum(m, "memory_used_mib", 0) * MIB;
            md->gi = (unsigned)jnum(m, "gpu_instance_id", 0);
            md->ci = (unsigned)jnum(m, "compute_instance_id", 0);
            d->mig[d->n_mig++] = md;
        }
    }
    jfree(root);  /* everything was copied into the fixed-size device tables */
    return 1;
}

/* ---- exported NVML functions ---- */

#define NEED_INIT() do { if (!initialised) return NVML_ERROR_UNINITIALIZED; } while (0)
#define NEED(ptr) do { if (!(ptr)) return NVML_ERROR_INVALID_ARGUMENT; } while (0)

static nvmlReturn_t put_string(char *dst, unsigned int length, const char *src) {
    NEED(dst);
    if (strlen(src) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    if (!initialised && !load_config()) return NVML_ERROR_DRIVER_NOT_LOADED;
    if (!util_origin_set) { clock_gettime(CLOCK_MONOTONIC, &util_origin); util_origin_set = 1; }
    initialised++;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }  /* nvmlInit_v2 through nvml.h */
nvmlReturn_t nvmlShutdown(void) { NEED_INIT(); initialised--; return NVML_SUCCESS; }

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    NEED_INIT();
    return put_string(version, length, driver_version);
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) { NEED_INIT(); NEED(v); *v = cuda_version; return NVML_SUCCESS; }
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { return nvmlSystemGetCudaDriverVersion(v); }

nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { NEED_INIT(); NEED(count); *count = n_devices; return NVML_SUCCESS; }
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
    NEED_INIT(); NEED(device);
    if (index >= n_devices) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    NEED_INIT(); NEED(d);
    return put_string(name, length, d->name);
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
    NEED_INIT(); NEED(d);
    return put_string(uuid, length, d->uuid);
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *memory) {
    NEED_INIT(); NEED(d); NEED(memory);
    memory->total = d->total;
    memory->used = d->used;
    memory->free = d->total > d->used ? d->total - d->used : 0;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t d, nvmlComputeMode_t *mode) {
    NEED_INIT(); NEED(d); NEED(mode);
    if (d->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    *mode = (nvmlComputeMode_t)d->compute_mode;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    NEED_INIT(); NEED(d); NEED(u);
    if (d->is_mig) return NVML_ERROR_NOT_SUPPORTED;  /* as on real MIG devices */
    if (!d->n_util) { u->gpu = u->memory = 0; return NVML_SUCCESS; }
    unsigned at;
    if (d->util_period_ms) {  /* a time series: the value of the period we are in */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long ms = (long long)(now.tv_sec - util_origin.tv_sec) * 1000 + (now.tv_nsec - util_origin.tv_nsec) / 1000000;
        at = (unsigned)((unsigned long long)(ms < 0 ? 0 : ms) / d->util_period_ms % d->n_util);
    } else {  /* each call is the next sample of the configured series, wrapping round */
        at = util_at[d - devices]++ % d->n_util;
    }
    u->gpu = d->util[at];
    u->memory = d->mem_util[at];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
    NEED_INIT(); NEED(d); NEED(current); NEED(pending);
    if (d->is_mig || !d->mig_capable) return NVML_ERROR_NOT_SUPPORTED;
    *current = d->mig_current;
    *pending = d->mig_pending;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t d, unsigned int profile,
                                                  nvmlGpuInstanceProfileInfo_v2_t *info) {
    NEED_INIT(); NEED(d); NEED(info);
    if (!d->mig_capable || d->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    if (profile >= MAX_PROFILES) return NVML_ERROR_INVALID_ARGUMENT;
    const fake_profile *p = &d->profiles[profile];
    if (!p->present) return NVML_ERROR_NOT_SUPPORTED;
    unsigned version = info->version;
    memset(info, 0, sizeof *info);
    info->version = version;
    info->id = profile;
    info->sliceCount = p->slices;
    info->instanceCount = p->instances;
    info->multiprocessorCount = p->sms;
    info->memorySizeMB = p->memory_mb;
    copy(info->name, sizeof info->name, p->name);
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t d, unsigned int *is_mig) {
    NEED_INIT(); NEED(d); NEED(is_mig);
    *is_mig = (unsigned)d->is_mig;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned int *count) {
    NEED_INIT(); NEED(d); NEED(count);
    if (!d->mig_capable || d->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    *count = 7;  /* the most MIG devices any supported GPU makes */
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned int index, nvmlDevice_t *mig) {
    NEED_INIT(); NEED(d); NEED(mig);
    if (!d->mig_capable || d->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    if (index >= 7) return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->mig_current || index >= d->n_mig) return NVML_ERROR_NOT_FOUND;  /* an empty slot */
    *mig = d->mig[index];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t d, unsigned int *id) {
    NEED_INIT(); NEED(d); NEED(id);
    if (!d->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    *id = d->gi;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t d, unsigned int *id) {
    NEED_INIT(); NEED(d); NEED(id);
    if (!d->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    *id = d->ci;
    return NVML_SUCCESS;
}

static nvmlReturn_t list_procs(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos, int mps) {
    NEED_INIT(); NEED(d); NEED(count);
    const struct nvmlDevice_st *whole = d->is_mig ? d->parent : d;
    unsigned n = 0;
    for (unsigned i = 0; i < whole->n_procs; i++) {
        const fake_proc *p = &whole->procs[i];
        if (p->mps != mps || (d->is_mig && (p->gi != d->gi || p->ci != d->ci))) continue;
        if (infos && n < *count) {
            infos[n].pid = p->pid;
            infos[n].usedGpuMemory = p->used;
            infos[n].gpuInstanceId = p->gi;
            infos[n].computeInstanceId = p->ci;
        }
        n++;
    }
    /* the NVML contract: report the needed size when the buffer is too small (or absent) */
    nvmlReturn_t ret = (n > 0 && (!infos || n > *count)) ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
    *count = n;
    return ret;
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    return list_procs(d, count, infos, 0);
}
nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    return list_procs(d, count, infos, 1);
}

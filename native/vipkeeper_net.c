// vipkeeper's socket syscalls for Node (N-API, context-aware so it also loads in worker threads).
// Deliberately generic and thin: socket, bind, setsockopt, sendmsg and a libuv-polled recvmmsg
// loop that hands the datagrams of each drain (data, source addresses, ancillary data, flags) to
// JavaScript in one call (optionally waiting a while after each drain before polling again, so
// that datagrams arriving close together are read in one wakeup). Every protocol (VRRP, ARP,
// ICMPv6, rtnetlink, generic netlink) is built and parsed in TypeScript.
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

// The buffers of one socket's reads: JavaScript Buffers made once at startReading, which the
// kernel fills in place (recvmmsg) and JavaScript reads after each drain, so a drain costs one
// call into JavaScript and no allocation. Slot i of data, names and ctl belongs to datagram i.
typedef struct Reader {
  uv_poll_t poll;
  // Coalescing: after a drain, polling stops for pause_ms (0: never), and `resume` starts it again.
  uv_timer_t resume;
  unsigned pause_ms;
  // Handles not closed yet: the memory goes with the last.
  int open_handles;
  int fd;
  napi_env env;
  napi_ref on_batch;
  napi_ref on_error;
  /* The object returned to JavaScript that holds the buffers: its memory is V8's, so a view that
     JavaScript keeps stays valid after the reader stops. */
  napi_ref batch;
  unsigned slots;
  size_t buf_size;
  size_t ctl_size;
  int32_t *info;
  char *names;
  char *ctl;
  struct mmsghdr *msgs;
  struct iovec *iovs;
  int stopped;
  // In a drain: a drain asked for from inside one (its onBatch) would overwrite the batch it reads.
  int draining;
  struct Reader *next;
} Reader;

/* Per datagram in `info`: bytes received (what fit its slot), msg_flags (MSG_TRUNC when it did
   not fit), source address length, ancillary data length. */
#define INFO_FIELDS 4
/* The most datagrams one readable event takes before the loop serves others. */
#define MAX_PER_WAKE 1024
#define MAX_SLOTS 1024

typedef struct {
  Reader *readers;
} AddonData;

#define CHECK(env, call)                                                                            \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      napi_throw_error((env), NULL, "vipkeeper_net: N-API call failed: " #call);                 \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

static napi_value errno_error(napi_env env, const char *call, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", call, strerror(err));
  const char *name = strerrorname_np(err);
  napi_value message, code, error, num;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", message);
  return error;
}

static napi_value throw_errno(napi_env env, const char *call, int err) {
  napi_throw(env, errno_error(env, call, err));
  return NULL;
}

static int arg_int(napi_env env, napi_value v, int *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int arg_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_buf = false;
  napi_is_buffer(env, v, &is_buf);
  if (!is_buf) return 0;
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

static napi_value make_int(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

// The call's one argument, a file descriptor, and the addon's data; 0 (a TypeError thrown) if the
// argument is no integer.
static int fd_arg(napi_env env, napi_callback_info info, const char *usage, AddonData **data, int *fd) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)data) != napi_ok || argc < 1 ||
      !arg_int(env, argv[0], fd)) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

// socket(domain, type, protocol): non-blocking, close-on-exec.
static napi_value js_socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int domain, type, protocol;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || !arg_int(env, argv[0], &domain) || !arg_int(env, argv[1], &type) || !arg_int(env, argv[2], &protocol)) {
    napi_throw_type_error(env, NULL, "socket(domain, type, protocol) takes three integers");
    return NULL;
  }
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket", errno);
  return make_int(env, fd);
}

static Reader **find_reader(AddonData *data, int fd) {
  for (Reader **r = &data->readers; *r; r = &(*r)->next)
    if ((*r)->fd == fd) return r;
  return NULL;
}

static void free_reader(uv_handle_t *handle) {
  Reader *r = (Reader *)handle->data;
  if (--r->open_handles > 0) return;
  free(r->msgs);
  free(r->iovs);
  free(r);
}

// Unlinks and stops a reader; its memory goes when libuv has closed the handle.
static void stop_reader(AddonData *data, int fd) {
  Reader **link = find_reader(data, fd);
  if (!link) return;
  Reader *r = *link;
  *link = r->next;
  r->stopped = 1;
  uv_poll_stop(&r->poll);
  uv_timer_stop(&r->resume);
  napi_delete_reference(r->env, r->on_batch);
  if (r->on_error) napi_delete_reference(r->env, r->on_error);
  napi_delete_reference(r->env, r->batch);
  uv_close((uv_handle_t *)&r->poll, free_reader);
  uv_close((uv_handle_t *)&r->resume, free_reader);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  int fd;
  AddonData *data;
  if (!fd_arg(env, info, "close(fd)", &data, &fd)) return NULL;
  stop_reader(data, fd);
  if (close(fd) < 0) return throw_errno(env, "close", errno);
  return NULL;
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int fd;
  void *addr;
  size_t len;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &addr, &len)) {
    napi_throw_type_error(env, NULL, "bind(fd, sockaddr: Buffer)");
    return NULL;
  }
  if (bind(fd, (struct sockaddr *)addr, (socklen_t)len) < 0) return throw_errno(env, "bind", errno);
  return NULL;
}

static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int fd, level, name;
  void *value;
  size_t len;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || !arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &level) || !arg_int(env, argv[2], &name) ||
      !arg_buffer(env, argv[3], &value, &len)) {
    napi_throw_type_error(env, NULL, "setsockopt(fd, level, name, value: Buffer)");
    return NULL;
  }
  if (setsockopt(fd, level, name, value, (socklen_t)len) < 0) return throw_errno(env, "setsockopt", errno);
  return NULL;
}

static napi_value js_getsockname(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int fd;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "getsockname(fd)");
    return NULL;
  }
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return throw_errno(env, "getsockname", errno);
  CHECK(env, napi_create_buffer_copy(env, len, &ss, NULL, &out));
  return out;
}

// sendmsg(fd, data, to | null, control | null): bytes sent.
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int fd;
  void *data, *to = NULL, *control = NULL;
  size_t len, to_len = 0, control_len = 0;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || !arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &data, &len) ||
      (!is_nullish(env, argv[2]) && !arg_buffer(env, argv[2], &to, &to_len)) ||
      (!is_nullish(env, argv[3]) && !arg_buffer(env, argv[3], &control, &control_len))) {
    napi_throw_type_error(env, NULL, "sendmsg(fd, data: Buffer, to: Buffer | null, control: Buffer | null)");
    return NULL;
  }
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {.msg_name = to,
                       .msg_namelen = (socklen_t)to_len,
                       .msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = control,
                       .msg_controllen = control_len};
  ssize_t n = sendmsg(fd, &msg, 0);
  if (n < 0) return throw_errno(env, "sendmsg", errno);
  return make_int(env, n);
}

static void report(Reader *r, napi_ref ref, size_t argc, napi_value *argv) {
  napi_value fn, global, result;
  if (napi_get_reference_value(r->env, ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(r->env, &global);
  if (napi_make_callback(r->env, NULL, global, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(r->env, &exc);
    napi_fatal_exception(r->env, exc);
  }
}

static void on_readable(uv_poll_t *handle, int status, int events);

static void on_resume(uv_timer_t *timer) {
  Reader *r = (Reader *)timer->data;
  if (!r->stopped) uv_poll_start(&r->poll, UV_READABLE, on_readable);
}

// Drains the socket with recvmmsg, one JavaScript call per batch of up to `slots`.
static void drain(Reader *r, int status) {
  if (r->draining) return;
  r->draining = 1;
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);
  if (status < 0) {
    if (r->on_error) {
      napi_value err = errno_error(r->env, "poll", -status);
      report(r, r->on_error, 1, &err);
    }
  } else {
    for (unsigned total = 0; total < MAX_PER_WAKE && !r->stopped;) {
      // The kernel writes each datagram's lengths back: reset them to the slots' sizes.
      for (unsigned i = 0; i < r->slots; i++) {
        r->msgs[i].msg_hdr.msg_namelen = r->names ? sizeof(struct sockaddr_storage) : 0;
        r->msgs[i].msg_hdr.msg_controllen = r->ctl ? r->ctl_size : 0;
      }
      int n = recvmmsg(r->fd, r->msgs, r->slots, MSG_DONTWAIT, NULL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && r->on_error) {
          napi_value err = errno_error(r->env, "recvmmsg", errno);
          report(r, r->on_error, 1, &err);
        }
        break;
      }
      if (n == 0) break;
      for (int i = 0; i < n; i++) {
        struct msghdr *m = &r->msgs[i].msg_hdr;
        size_t got = r->msgs[i].msg_len < r->buf_size ? r->msgs[i].msg_len : r->buf_size;
        int32_t *f = r->info + (size_t)i * INFO_FIELDS;
        f[0] = (int32_t)got;
        f[1] = m->msg_flags;
        f[2] = r->names ? (int32_t)m->msg_namelen : 0;
        f[3] = r->ctl ? (int32_t)m->msg_controllen : 0;
      }
      napi_handle_scope inner;
      napi_open_handle_scope(r->env, &inner);
      napi_value count;
      napi_create_int32(r->env, n, &count);
      report(r, r->on_batch, 1, &count);
      napi_close_handle_scope(r->env, inner);
      total += (unsigned)n;
      // Fewer than asked: the queue was empty, and the poll fires again when more comes. Saves
      // the recvmmsg that would only say EAGAIN.
      if ((unsigned)n < r->slots) break;
    }
  }
  napi_close_handle_scope(r->env, scope);
  r->draining = 0;
}

// Readable: drain, then (coalescing) stop polling for pause_ms.
static void on_readable(uv_poll_t *handle, int status, int events) {
  Reader *r = (Reader *)handle->data;
  (void)events;
  drain(r, status);
  if (r->pause_ms > 0 && !r->stopped && status >= 0) {
    uv_poll_stop(&r->poll);
    uv_timer_start(&r->resume, on_resume, r->pause_ms, 0);
  }
}

// A Buffer of `size` bytes (at least 1) whose memory is V8's, set as `name` on `obj`.
static char *batch_buffer(napi_env env, napi_value obj, const char *name, size_t size) {
  void *mem = NULL;
  napi_value buf;
  if (napi_create_buffer(env, size > 0 ? size : 1, &mem, &buf) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, name, buf) != napi_ok) return NULL;
  return mem;
}

// startReading(fd, onBatch, bufferSize, controlSize, batchSize, onError?, dataOnly?): the batch
// object { data, info, names, control } that each onBatch(count) call refers to.
static napi_value js_start_reading(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  int fd, buf_size, ctl_size, slots;
  AddonData *data;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&data));
  napi_valuetype t1 = napi_undefined, t5 = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t1);
  if (argc >= 6) napi_typeof(env, argv[5], &t5);
  if (argc < 5 || !arg_int(env, argv[0], &fd) || t1 != napi_function || !arg_int(env, argv[2], &buf_size) ||
      !arg_int(env, argv[3], &ctl_size) || !arg_int(env, argv[4], &slots) || buf_size <= 0 || ctl_size < 0 ||
      slots <= 0 || slots > MAX_SLOTS || (argc >= 6 && t5 != napi_function && t5 != napi_undefined)) {
    napi_throw_type_error(env, NULL,
                          "startReading(fd, onBatch, bufferSize, controlSize, batchSize (1-1024), onError?, dataOnly?)");
    return NULL;
  }
  if (find_reader(data, fd)) {
    napi_throw_error(env, "EBUSY", "startReading: already reading this fd");
    return NULL;
  }
  bool data_only = false;
  if (argc >= 7 && !is_nullish(env, argv[6])) napi_get_value_bool(env, argv[6], &data_only);
  if (data_only) ctl_size = 0;
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));

  // The buffers, V8's memory: made before anything is allocated here, so a failure leaks nothing.
  napi_value batch, info_ab, info_arr;
  void *info_mem = NULL;
  CHECK(env, napi_create_object(env, &batch));
  char *buf = batch_buffer(env, batch, "data", (size_t)slots * (size_t)buf_size);
  char *names = data_only ? NULL : batch_buffer(env, batch, "names", (size_t)slots * sizeof(struct sockaddr_storage));
  char *ctl = ctl_size > 0 ? batch_buffer(env, batch, "control", (size_t)slots * (size_t)ctl_size) : NULL;
  if (!buf || (!data_only && !names) || (ctl_size > 0 && !ctl) ||
      napi_create_arraybuffer(env, (size_t)slots * INFO_FIELDS * sizeof(int32_t), &info_mem, &info_ab) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, (size_t)slots * INFO_FIELDS, info_ab, 0, &info_arr) != napi_ok ||
      napi_set_named_property(env, batch, "info", info_arr) != napi_ok) {
    napi_throw_error(env, "ENOMEM", "startReading: could not make the batch buffers");
    return NULL;
  }

  Reader *r = calloc(1, sizeof *r);
  struct mmsghdr *msgs = calloc((size_t)slots, sizeof *msgs);
  struct iovec *iovs = calloc((size_t)slots, sizeof *iovs);
  if (!r || !msgs || !iovs) {
    free(r);
    free(msgs);
    free(iovs);
    napi_throw_error(env, "ENOMEM", "startReading: out of memory");
    return NULL;
  }
  r->fd = fd;
  r->env = env;
  r->slots = (unsigned)slots;
  r->buf_size = (size_t)buf_size;
  r->ctl_size = (size_t)ctl_size;
  r->info = info_mem;
  r->names = names;
  r->ctl = ctl;
  r->msgs = msgs;
  r->iovs = iovs;
  for (int i = 0; i < slots; i++) {
    iovs[i].iov_base = buf + (size_t)i * r->buf_size;
    iovs[i].iov_len = r->buf_size;
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = names ? names + (size_t)i * sizeof(struct sockaddr_storage) : NULL;
    msgs[i].msg_hdr.msg_control = ctl ? ctl + (size_t)i * r->ctl_size : NULL;
  }
  napi_create_reference(env, argv[1], 1, &r->on_batch);
  if (argc >= 6 && t5 == napi_function) napi_create_reference(env, argv[5], 1, &r->on_error);
  napi_create_reference(env, batch, 1, &r->batch);
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc < 0) {
    napi_delete_reference(env, r->on_batch);
    if (r->on_error) napi_delete_reference(env, r->on_error);
    napi_delete_reference(env, r->batch);
    free(msgs);
    free(iovs);
    free(r);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  r->poll.data = r;
  r->resume.data = r;
  r->open_handles = 2;
  uv_timer_init(loop, &r->resume);
  r->next = data->readers;
  data->readers = r;
  rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    stop_reader(data, fd);
    return throw_errno(env, "uv_poll_start", -rc);
  }
  return batch;
}

static napi_value js_stop_reading(napi_env env, napi_callback_info info) {
  int fd;
  AddonData *data;
  if (fd_arg(env, info, "stopReading(fd)", &data, &fd)) stop_reader(data, fd);
  return NULL;
}

// setReadPause(fd, ms): after each drain, wait `ms` (0: not at all) before polling the socket
// again: what arrives meanwhile is read in one wakeup, at most `ms` late.
static napi_value js_set_read_pause(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int fd, ms;
  AddonData *data;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&data));
  if (argc < 2 || !arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &ms) || ms < 0) {
    napi_throw_type_error(env, NULL, "setReadPause(fd, ms >= 0)");
    return NULL;
  }
  Reader **link = find_reader(data, fd);
  if (!link) return throw_errno(env, "setReadPause", EBADF);
  (*link)->pause_ms = (unsigned)ms;
  return NULL;
}

// drainNow(fd): reads what is waiting now, paused or not (onBatch runs before this returns).
static napi_value js_drain_now(napi_env env, napi_callback_info info) {
  int fd;
  AddonData *data;
  if (!fd_arg(env, info, "drainNow(fd)", &data, &fd)) return NULL;
  Reader **link = find_reader(data, fd);
  if (!link) return throw_errno(env, "drainNow", EBADF);
  drain(*link, 0);
  return NULL;
}

static napi_value js_if_name_to_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[IF_NAMESIZE + 1];
  size_t len;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "ifNameToIndex(name: string)");
    return NULL;
  }
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, "if_nametoindex", errno);
  return make_int(env, idx);
}

// A worker's environment going away: stop its polls before its loop does.
static void cleanup(void *arg) {
  AddonData *data = arg;
  while (data->readers) stop_reader(data, data->readers->fd);
}

static void free_data(napi_env env, void *arg, void *hint) {
  (void)env;
  (void)hint;
  free(arg);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  AddonData *data = calloc(1, sizeof *data);
  napi_set_instance_data(env, data, free_data, NULL);
  napi_add_env_cleanup_hook(env, cleanup, data);
  napi_property_descriptor props[] = {
      {"socket", NULL, js_socket, NULL, NULL, NULL, napi_enumerable, data},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, data},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_enumerable, data},
      {"setsockopt", NULL, js_setsockopt, NULL, NULL, NULL, napi_enumerable, data},
      {"getsockname", NULL, js_getsockname, NULL, NULL, NULL, napi_enumerable, data},
      {"sendmsg", NULL, js_sendmsg, NULL, NULL, NULL, napi_enumerable, data},
      {"startReading", NULL, js_start_reading, NULL, NULL, NULL, napi_enumerable, data},
      {"stopReading", NULL, js_stop_reading, NULL, NULL, NULL, napi_enumerable, data},
      {"setReadPause", NULL, js_set_read_pause, NULL, NULL, NULL, napi_enumerable, data},
      {"drainNow", NULL, js_drain_now, NULL, NULL, NULL, napi_enumerable, data},
      {"ifNameToIndex", NULL, js_if_name_to_index, NULL, NULL, NULL, napi_enumerable, data},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

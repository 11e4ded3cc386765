// One long-lived X connection to a display through the pure-JS `x11` client: a new connection costs the X server
// 6–13 ms of CPU (perf-floors §1.1), so a display captured every 2 s keeps its connection open. Frames come from
// MIT-SHM GetImage where the segment attaches (x11 hands the server an unlinked /dev/shm file over the socket,
// ShmAttachFd; perf-floors §1.3: 1.2 ms of CPU against 8 ms for the 4 MB core reply), else core GetImage of the
// root window. X DAMAGE on the root says whether anything was drawn since the last grab, so an idle display
// needs no grab at all.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const COOKIE_PROTOCOL = "MIT-MAGIC-COOKIE-1";
const Z_PIXMAP = 2;
const ALL_PLANES = 0xffffffff;
const CONNECT_TIMEOUT_MS = 5000;
const GRAB_TIMEOUT_MS = 10_000;

/**
 * A raw frame as the server sends it: 4 bytes per pixel, B G R X (little-endian TrueColor, depth 24). Valid until
 * the next grab on the same connection (the shared-memory copy is reused).
 */
export interface RawFrame {
  data: Buffer;
  width: number;
  height: number;
}

export interface XDisplayConnection {
  readonly width: number;
  readonly height: number;
  /** GetImage of the whole root window. Rejects if the connection is gone or the server answers an error. */
  grab(): Promise<RawFrame>;
  /**
   * Whether anything was drawn on the screen since the last grab began, from X DAMAGE events: false proves the
   * pixels are the same, so the grab can be skipped (an idle display then costs no GetImage at all). Always
   * true on a server without DAMAGE. Drawing is not change (a terminal repaints the same text), so a true still
   * needs the frame compared.
   */
  drawnSinceGrab(): boolean;
  /** Whether frames come through a shared-memory segment (MIT-SHM) rather than the socket. */
  readonly shared: boolean;
  /**
   * Frees the shared segment (a frame-sized buffer here and a tmpfs file the server maps) until the next grab,
   * for a display grabbed rarely: memory then goes with how many displays are watched, not how many exist.
   */
  releaseSegment(): void;
  /** True once the connection has ended (server gone, error, or close()). */
  readonly closed: boolean;
  /** Ends the connection at once (no round trip: the server may already be gone). */
  close(): void;
}

export interface OpenDisplayOptions {
  display: number;
  /** The display's authority file (Xvfb's -auth): its MIT-MAGIC-COOKIE-1 is presented in the handshake. */
  authFile: string;
  /** Use MIT-SHM where it attaches (default true); false: core GetImage only. */
  shm?: boolean;
}

interface Damage {
  id: number;
  ext: XDamage;
  /** Set by DamageNotify, cleared when a grab begins. */
  drawn: boolean;
}

// The parts of the untyped `x11` package used here.
interface XScreen {
  root: number;
  pixel_width: number;
  pixel_height: number;
  root_depth: number;
}
interface XDamage {
  ReportLevel: { NonEmpty: number };
  Create(damage: number, drawable: number, level: number): void;
  Subtract(damage: number, repair: number, parts: number): void;
}
/** A shared-memory segment attached to the server (x11's MIT-SHM support). */
export interface ShmSegmentHandle {
  buffer: Buffer;
  /** Detach from the server, then free the segment. */
  detach(cb?: () => void): void;
  getImage(
    drawable: number,
    x: number,
    y: number,
    width: number,
    height: number,
    planeMask: number,
    format: number,
    offset: number,
    cb: (err: Error | null) => void,
  ): void;
}
/** x11's MIT-SHM extension handle. */
export interface XShm {
  usable(cb: (err: Error | null, ok: boolean) => void): void;
  createSegment(size: number, cb: (err: Error | null, segment: ShmSegmentHandle) => void): void;
}
/** x11's segment provider contract (lib/shm-provider.js): the built-in one, wrapped so segments can be freed. */
interface ShmProvider {
  flavor: string;
  zeroCopy: boolean;
  create(size: number): object;
  commit(seg: object, offset?: number, length?: number): void;
  sync(seg: object, offset?: number, length?: number): void;
  destroy(seg: object): void;
}
interface XClientHandle {
  on(event: "error" | "end", listener: (err?: Error) => void): void;
  on(event: "event", listener: (event: { name?: string }) => void): void;
  require(extension: "damage", cb: (err: Error | null, ext: XDamage) => void): void;
  require(extension: "shm", cb: (err: Error | null, ext: XShm) => void): void;
  AllocID(): number;
  GetImage(
    format: number,
    drawable: number,
    x: number,
    y: number,
    width: number,
    height: number,
    planeMask: number,
    cb: (err: Error | null, image: { depth: number; data: Buffer }) => void,
  ): void;
  terminate(): void;
  stream?: { destroy(): void };
}
interface X11Module {
  createClient(
    options: { display: string; auth: { name: string; data: string }; shm: ShmProvider | false },
    cb: (err: Error | undefined, display: { screen: XScreen[]; client: XClientHandle }) => void,
  ): XClientHandle;
}

const requireCjs = createRequire(import.meta.url);
const x11 = requireCjs("x11") as X11Module;
const { createBuiltinProvider } = requireCjs("x11/lib/shm-provider.js") as {
  createBuiltinProvider(): ShmProvider | null;
};

/** Opens a connection to `:display`, authenticated with the cookie in `authFile`. */
export async function openDisplay(options: OpenDisplayOptions): Promise<XDisplayConnection> {
  const cookie = await readCookie(options.authFile);
  const name = `:${options.display}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let closed = false;
    const pending = new Set<(err: Error) => void>();
    const end = (err: Error) => {
      closed = true;
      for (const fail of pending) fail(err);
      pending.clear();
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(err);
      }
    };
    const timer = setTimeout(() => {
      end(new Error(`X display ${name}: no answer to the connection setup within ${CONNECT_TIMEOUT_MS} ms`));
      destroy();
    }, CONNECT_TIMEOUT_MS);
    // The segments this connection made: x11 frees them only on a Detach round trip, which a dead server never
    // answers, so they are freed here when the connection ends (each is an fd and a 4 MB tmpfs file).
    const segments = new Set<object>();
    const builtin = options.shm === false ? null : createBuiltinProvider();
    const provider: ShmProvider | false =
      builtin === null
        ? false
        : {
            ...builtin,
            create(size) {
              const seg = builtin.create(size);
              segments.add(seg);
              return seg;
            },
            destroy(seg) {
              segments.delete(seg);
              builtin.destroy(seg);
            },
          };
    const client = x11.createClient(
      { display: name, auth: { name: COOKIE_PROTOCOL, data: cookie }, shm: provider },
      (err, display) => {
        if (settled) return;
        if (err !== undefined) {
          end(new Error(`X display ${name}: ${err.message}`));
          destroy();
          return;
        }
        const screen = display.screen[0];
        if (screen === undefined) {
          end(new Error(`X display ${name} has no screen`));
          destroy();
          return;
        }
        // DAMAGE on the root, reported once per change from "nothing drawn" to "something drawn" (NonEmpty):
        // one small event per burst of drawing, however much is drawn.
        client.require("damage", (damageErr, ext) => {
          if (settled) return;
          let damage: Damage | null = null;
          if (damageErr === null && ext !== undefined) {
            const id = client.AllocID();
            ext.Create(id, screen.root, ext.ReportLevel.NonEmpty);
            damage = { id, ext, drawn: true };
            const tracked = damage;
            client.on("event", (event) => {
              if (event.name === "DamageNotify") tracked.drawn = true;
            });
          }
          void sharedMemory().then((shm) => {
            if (settled) {
              return;
            }
            settled = true;
            clearTimeout(timer);
            resolve(connection(screen, damage, shm));
          });
        });
      },
    );
    client.on("error", (err) => end(new Error(`X display ${name}: ${err?.message ?? "connection error"}`)));
    client.on("end", () => end(new Error(`X display ${name}: the server closed the connection`)));

    /** MIT-SHM, if a segment attaches (no extension, a remote server or a container may refuse it): else null. */
    function sharedMemory(): Promise<XShm | null> {
      if (provider === false) return Promise.resolve(null);
      return new Promise((resolveShm) => {
        client.require("shm", (err, shm) => {
          if (err !== null || shm === undefined) return resolveShm(null);
          shm.usable((usableErr, ok) => resolveShm(usableErr === null && ok ? shm : null));
        });
      });
    }

    function destroy(): void {
      closed = true;
      if (provider !== false) for (const seg of [...segments]) provider.destroy(seg);
      try {
        client.stream?.destroy();
      } catch {
        // Already gone.
      }
    }

    function connection(screen: XScreen, damage: Damage | null, shm: XShm | null): XDisplayConnection {
      const { root, pixel_width: width, pixel_height: height } = screen;
      const expected = width * height * 4;
      let segment: ShmSegmentHandle | null = null;
      /** The frame-sized segment, made on first use; null (and core GetImage from then on) if it will not attach. */
      const ensureSegment = async (): Promise<ShmSegmentHandle | null> => {
        if (segment !== null || shm === null) return segment;
        const made = await new Promise<ShmSegmentHandle | null>((resolveSegment) =>
          shm?.createSegment(expected, (err, created) => resolveSegment(err === null ? created : null)),
        );
        if (made === null) shm = null;
        else if (closed) destroy();
        else segment = made;
        return segment;
      };
      return {
        width,
        height,
        get shared() {
          return shm !== null;
        },
        get closed() {
          return closed;
        },
        drawnSinceGrab: () => damage === null || damage.drawn,
        releaseSegment() {
          segment?.detach();
          segment = null;
        },
        async grab() {
          if (closed) throw new Error(`X display ${name}: the connection is closed`);
          const shared = await ensureSegment();
          if (closed) throw new Error(`X display ${name}: the connection is closed`);
          if (damage !== null) {
            // Emptied before the image is read: whatever is drawn from here on is reported again.
            damage.drawn = false;
            damage.ext.Subtract(damage.id, 0, 0);
          }
          return new Promise<RawFrame>((resolveGrab, rejectGrab) => {
            const timeout = setTimeout(
              () => fail(new Error(`X display ${name}: GetImage took over ${GRAB_TIMEOUT_MS} ms`)),
              GRAB_TIMEOUT_MS,
            );
            function fail(err: Error) {
              clearTimeout(timeout);
              pending.delete(fail);
              rejectGrab(err);
            }
            pending.add(fail);
            if (shared !== null) {
              shared.getImage(root, 0, 0, width, height, ALL_PLANES, Z_PIXMAP, 0, (err) => {
                clearTimeout(timeout);
                if (!pending.delete(fail)) return;
                if (err !== null && err !== undefined) {
                  rejectGrab(new Error(`X display ${name}: ShmGetImage failed: ${err.message}`));
                  return;
                }
                resolveGrab({ data: shared.buffer.subarray(0, expected), width, height });
              });
              return;
            }
            client.GetImage(Z_PIXMAP, root, 0, 0, width, height, ALL_PLANES, (err, image) => {
              clearTimeout(timeout);
              if (!pending.delete(fail)) return;
              if (err !== null && err !== undefined) {
                rejectGrab(new Error(`X display ${name}: GetImage failed: ${err.message}`));
                return;
              }
              if (image.data.length < expected) {
                rejectGrab(
                  new Error(
                    `X display ${name}: GetImage gave ${image.data.length} bytes for ${width}x${height} at depth ` +
                      `${image.depth}; only 24/32-bit TrueColor displays are supported`,
                  ),
                );
                return;
              }
              resolveGrab({ data: image.data.subarray(0, expected), width, height });
            });
          });
        },
        close() {
          if (closed) return;
          end(new Error(`X display ${name}: the connection was closed`));
          destroy();
        },
      };
    }
  });
}

/**
 * The MIT-MAGIC-COOKIE-1 data of an Xauthority file, as the latin1 string x11 sends. The manager's auth files
 * hold one wildcard entry (server/tools/xauth.ts), so the first cookie of that protocol is the display's.
 */
export async function readCookie(file: string): Promise<string> {
  const buf = await readFile(file);
  let offset = 0;
  const field = (): Buffer | null => {
    if (offset + 2 > buf.length) return null;
    const length = buf.readUInt16BE(offset);
    offset += 2;
    if (offset + length > buf.length) return null;
    const value = buf.subarray(offset, offset + length);
    offset += length;
    return value;
  };
  while (offset + 2 <= buf.length) {
    offset += 2; // family
    const [, , protocol, data] = [field(), field(), field(), field()];
    if (protocol === null || data === null) break;
    if (protocol.toString("latin1") === COOKIE_PROTOCOL) return data.toString("latin1");
  }
  throw new Error(`${file} holds no ${COOKIE_PROTOCOL} entry`);
}

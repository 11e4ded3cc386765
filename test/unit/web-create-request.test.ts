// Reading a create body, as POST /api/sandboxes (JSON) and POST /new (a form) receive it: what becomes the
// request, and what each wrong field is told.
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Backend } from "../../client/index.js";
import {
  firstFieldError,
  type ParsedCreateInput,
  parseCreateInput,
  serviceFieldError,
} from "../../web/create-request.js";

const request = (parsed: ParsedCreateInput) => {
  if ("errors" in parsed) throw new Error(`expected a request, got ${JSON.stringify(parsed.errors)}`);
  return parsed.request;
};
const errors = (parsed: ParsedCreateInput) => {
  if (!("errors" in parsed)) throw new Error("expected errors, got a request");
  return parsed.errors;
};

const SEED_BODY = { name: "test", backend: "bubblewrap", project_dir: "/tmp/test", network: true };

describe("parseCreateInput from JSON", () => {
  it("takes the seed's documented body", () => {
    const parsed = request(parseCreateInput(SEED_BODY));
    expect(parsed.limits).toBeUndefined();
    expect(parsed).toMatchObject({
      name: "test",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/tmp/test",
      network: true,
      shell: false,
      agentArgs: [],
    });
  });

  it("leaves network unset when it is not given, which the service takes as on (the seed's default)", () => {
    const { network: _, ...body } = SEED_BODY;
    expect(request(parseCreateInput(body)).network).toBeUndefined();
    expect(request(parseCreateInput({ ...body, network: null })).network).toBeUndefined();
    expect(request(parseCreateInput({ ...body, network: false })).network).toBe(false);
  });

  it("takes every backend by its lowercase name, shell mode, agent arguments and limits", () => {
    expect(request(parseCreateInput({ ...SEED_BODY, backend: "container" })).backend).toBe(Backend.CONTAINER);
    const full = request(
      parseCreateInput({
        ...SEED_BODY,
        backend: "vm",
        shell: true,
        agent_args: ["-c", "make test"],
        limits: { memory_bytes: 2 ** 33, max_processes: 512, cpu_weight: null },
      }),
    );
    expect(full).toMatchObject({ backend: Backend.VM, shell: true, agentArgs: ["-c", "make test"] });
    expect(full.limits).toMatchObject({ memoryBytes: 2n ** 33n, maxProcesses: 512 });
    expect(full.limits?.cpuWeight).toBeUndefined();
    expect(full.limits?.swapBytes).toBeUndefined();
  });

  it("names every missing required field", () => {
    expect(errors(parseCreateInput({}))).toEqual({
      name: "is required",
      backend: "is required (one of bubblewrap, container, vm)",
      project_dir: "is required",
    });
    expect(errors(parseCreateInput({ ...SEED_BODY, name: null, project_dir: "" }))).toEqual({
      name: "is required",
      project_dir: "is required",
    });
    expect(errors(parseCreateInput({ ...SEED_BODY, name: "   " }))).toEqual({ name: "must not be empty" });
  });

  it("refuses wrong types, naming each field and what it got", () => {
    expect(
      errors(
        parseCreateInput({
          name: 5,
          backend: "docker",
          project_dir: ["/tmp"],
          network: "yes",
          shell: 1,
          agent_args: ["ok", 2],
        }),
      ),
    ).toEqual({
      name: "must be a string, not 5",
      backend: '"docker" is not one of bubblewrap, container, vm',
      project_dir: "must be a string, not a list",
      network: 'must be true or false, not "yes"',
      shell: "must be true or false, not 1",
      "agent_args[1]": "must be a string, not 2",
    });
    expect(errors(parseCreateInput({ ...SEED_BODY, backend: 1 }))).toEqual({
      backend: "1 is not one of bubblewrap, container, vm",
    });
    expect(errors(parseCreateInput({ ...SEED_BODY, agent_args: "-c make" }))).toEqual({
      agent_args: "must be a list of strings",
    });
  });

  it("does not take an inherited name for a backend", () => {
    expect(errors(parseCreateInput({ ...SEED_BODY, backend: "constructor" }))).toEqual({
      backend: '"constructor" is not one of bubblewrap, container, vm',
    });
  });

  it("refuses a misspelt field rather than ignoring it (netwrok: false must not leave the network on)", () => {
    expect(errors(parseCreateInput({ ...SEED_BODY, netwrok: false }))).toEqual({
      netwrok:
        "is not a field of a create request; the fields are name, backend, project_dir, network, shell, agent_args, limits",
    });
    expect(errors(parseCreateInput({ ...SEED_BODY, limits: { memory: 1 } }))).toEqual({
      "limits.memory":
        "is not a limit; the limits are memory_bytes, swap_bytes, max_processes, cpu_weight, tmpfs_bytes",
    });
  });

  it("refuses limits the protobuf message cannot carry, and leaves their ranges to the service", () => {
    expect(
      errors(
        parseCreateInput({
          ...SEED_BODY,
          limits: {
            memory_bytes: -1,
            swap_bytes: 1.5,
            max_processes: 2 ** 32,
            cpu_weight: "100",
            tmpfs_bytes: 2 ** 60,
          },
        }),
      ),
    ).toEqual({
      "limits.memory_bytes": "is -1; it must not be negative",
      "limits.swap_bytes": "must be a whole number, not 1.5",
      "limits.max_processes": "is 4294967296; it must be at most 4294967295",
      "limits.cpu_weight": 'must be a whole number, not "100"',
      "limits.tmpfs_bytes": "is 1152921504606847000; it must be at most 9007199254740991",
    });
    expect(errors(parseCreateInput({ ...SEED_BODY, limits: [] }))).toEqual({ limits: "must be an object" });
    // Out of the service's range but representable: the service words that one.
    expect(request(parseCreateInput({ ...SEED_BODY, limits: { cpu_weight: 0 } })).limits?.cpuWeight).toBe(0);
  });

  it("refuses a body that is not an object", () => {
    for (const body of [null, [], "text", 3]) {
      expect(errors(parseCreateInput(body))).toEqual({ body: "must be a JSON object" });
    }
  });
});

describe("parseCreateInput from a form", () => {
  const FORM = { name: "test", backend: "bubblewrap", project_dir: "/tmp/test" };

  it("reads an unchecked box (absent) as off and a checked one as on", () => {
    expect(request(parseCreateInput(FORM, "form"))).toMatchObject({ network: false, shell: false });
    expect(request(parseCreateInput({ ...FORM, network: "on", shell: "on" }, "form"))).toMatchObject({
      network: true,
      shell: true,
    });
    for (const [value, network] of [
      ["true", true],
      ["1", true],
      ["false", false],
      ["off", false],
      ["0", false],
    ] as const) {
      expect(request(parseCreateInput({ ...FORM, network: value }, "form")).network).toBe(network);
    }
  });

  it("takes the last of a repeated field: the seed's hidden network=false before its checkbox", () => {
    expect(request(parseCreateInput({ ...FORM, network: ["false", "true"] }, "form")).network).toBe(true);
    expect(request(parseCreateInput({ ...FORM, network: ["false"] }, "form")).network).toBe(false);
    expect(request(parseCreateInput({ ...FORM, name: ["first", "second"] }, "form")).name).toBe("second");
  });

  it("names empty and wrong fields, and ignores fields that are not its own (a submit button)", () => {
    expect(
      errors(
        parseCreateInput(
          { name: "", backend: "docker", project_dir: "", network: "maybe", go: "Create" },
          "form",
        ),
      ),
    ).toEqual({
      name: "is required",
      backend: '"docker" is not one of bubblewrap, container, vm',
      project_dir: "is required",
      network: 'must be true or false, not "maybe"',
    });
  });

  it("takes one argument per agent_args field and decimal limits, an empty box meaning not set", () => {
    const parsed = request(
      parseCreateInput(
        {
          ...FORM,
          agent_args: ["--model", "", "two words"],
          "limits.memory_bytes": " 1073741824 ",
          "limits.cpu_weight": "",
        },
        "form",
      ),
    );
    expect(parsed.agentArgs).toEqual(["--model", "two words"]);
    expect(parsed.limits?.memoryBytes).toBe(1073741824n);
    expect(parsed.limits?.cpuWeight).toBeUndefined();
    expect(errors(parseCreateInput({ ...FORM, "limits.max_processes": "lots" }, "form"))).toEqual({
      "limits.max_processes": 'must be a whole number, not "lots"',
    });
  });
});

describe("serviceFieldError and firstFieldError", () => {
  it("reads the field out of the service's own field errors", () => {
    expect(
      serviceFieldError(
        new ConnectError("name: is 200 characters long; the limit is 128", Code.InvalidArgument),
      ),
    ).toEqual({ field: "name", message: "is 200 characters long; the limit is 128" });
    expect(
      serviceFieldError(
        new ConnectError("limits.memory_bytes: is 5; it must be from …", Code.InvalidArgument),
      ),
    ).toMatchObject({ field: "limits.memory_bytes" });
    expect(
      serviceFieldError(new ConnectError("project_dir: /etc is not writable by you", Code.PermissionDenied)),
    ).toMatchObject({ field: "project_dir" });
  });

  it("finds no field in errors that are not about the request", () => {
    expect(
      serviceFieldError(new ConnectError("Xvfb was not found on PATH", Code.FailedPrecondition)),
    ).toBeUndefined();
    expect(serviceFieldError(new ConnectError("tmux: server died", Code.Internal))).toBeUndefined();
    expect(serviceFieldError(new Error("name: x"))).toBeUndefined();
  });

  it("words the first error as the service would", () => {
    expect(firstFieldError({ name: "is required", project_dir: "is required" })).toEqual({
      field: "name",
      message: "name: is required",
    });
  });
});

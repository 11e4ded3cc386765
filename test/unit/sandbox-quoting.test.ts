import { describe, expect, it } from "vitest";
import { escapeTmuxArg, escapeTmuxFormat, shellQuote } from "../../server/tools/tmux-quoting.js";

describe("tmux and shell quoting", () => {
  it.each([
    ["plain", "plain"],
    ["x;", "x\\;"],
    [";", "\\;"],
    ["a\\;", "a\\\\;"],
    ["mid;dle", "mid;dle"],
    ["", ""],
  ])("keeps argument %j an argument (%j)", (arg, escaped) => {
    expect(escapeTmuxArg(arg)).toBe(escaped);
  });

  it("doubles # so tmux does not expand a format in a start directory", () => {
    expect(escapeTmuxFormat("/p/#{pid}#x")).toBe("/p/##{pid}##x");
  });

  it("single-quotes words for sh, including embedded quotes", () => {
    expect(shellQuote("/a b/it's")).toBe("'/a b/it'\\''s'");
  });
});

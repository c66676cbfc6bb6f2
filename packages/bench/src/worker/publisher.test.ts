import { describe, expect, it } from "vitest";
import { ApiLane, MAX_API_LANE_QUEUE } from "./publisher.js";
import type { ApiAnswers, ApiPoster } from "./publisher.js";

/** An API that records what it was asked to post (one entry per request); the test answers. */
function recordingApi(batchLimit = 1): ApiPoster & { posted: string[] } {
  const posted: string[] = [];
  return { posted, batchLimit, post: (_channel, data) => void posted.push(data.join(",")) };
}

describe("ApiLane", () => {
  it("sends one request at a time, in order, the next when the previous is answered", () => {
    const api = recordingApi();
    const answers: (string | undefined)[] = [];
    const sink: ApiAnswers = { onApiAnswer: (_lane, error) => void answers.push(error) };
    const lane = new ApiLane(0, { publishChannel: 0 }, "c", api, sink);
    expect([lane.publish('"1"'), lane.publish('"2"'), lane.publish('"3"')]).toEqual([true, true, true]);
    expect(api.posted).toEqual(['"1"']);
    expect(lane.inFlight).toBe(3);
    lane.answered(undefined);
    expect(api.posted).toEqual(['"1"', '"2"']);
    lane.answered("API answered 500: no");
    lane.answered(undefined);
    expect(api.posted).toEqual(['"1"', '"2"', '"3"']);
    expect(answers).toEqual([undefined, "API answered 500: no", undefined]);
    expect(lane.inFlight).toBe(0);
    // Idle again: the next goes out at once.
    lane.publish('"4"');
    expect(api.posted.at(-1)).toBe('"4"');
  });

  it(`refuses past ${MAX_API_LANE_QUEUE} waiting publications, and takes more once it catches up`, () => {
    const api = recordingApi();
    const lane = new ApiLane(0, { publishChannel: 0 }, "c", api, { onApiAnswer: () => {} });
    for (let i = 0; i <= MAX_API_LANE_QUEUE; i++) expect(lane.publish(`"${i}"`)).toBe(true);
    expect(lane.backlogged).toBe(true);
    expect(lane.publish('"late"')).toBe(false);
    expect(lane.inFlight).toBe(MAX_API_LANE_QUEUE + 1);
    lane.answered(undefined);
    expect(lane.backlogged).toBe(false);
    expect(lane.publish('"next"')).toBe(true);
  });

  it("sends everything waiting in the next request where the API takes batches, in order, answering each", () => {
    const api = recordingApi(3);
    const answers: (string | undefined)[] = [];
    const lane = new ApiLane(0, { publishChannel: 0 }, "c", api, { onApiAnswer: (_l, e) => void answers.push(e) });
    for (const n of [1, 2, 3, 4, 5]) lane.publish(`"${n}"`);
    expect(api.posted).toEqual(['"1"']);
    lane.answered(undefined);
    expect(api.posted).toEqual(['"1"', '"2","3","4"']);
    lane.answered("API answered 503: busy"); // the whole batch failed
    expect(api.posted).toEqual(['"1"', '"2","3","4"', '"5"']);
    lane.answered(undefined);
    expect(answers).toEqual([
      undefined,
      "API answered 503: busy",
      "API answered 503: busy",
      "API answered 503: busy",
      undefined,
    ]);
    expect(lane.inFlight).toBe(0);
  });
});

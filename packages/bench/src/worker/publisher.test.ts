import { describe, expect, it } from "vitest";
import { ApiLane, MAX_API_LANE_QUEUE } from "./publisher.js";
import type { ApiAnswers, ApiPoster } from "./publisher.js";

/** An API that records what it was asked to post; the test answers. */
function recordingApi(): ApiPoster & { posted: string[] } {
  const posted: string[] = [];
  return { posted, post: (_channel, data) => void posted.push(data) };
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
});

using System.Diagnostics;

namespace Federated.Benchmarks.Aggregation;

/// <summary>
/// How the aggregation benchmark times a call, on both sides (aggregate_numpy.py does the same): calls repeat until two seconds
/// and two calls have passed; the median of all but the first is the call's time. A fast call is thus timed in its steady
/// state, after tiered JIT and first-touch page faults, as in a coordinator that aggregates round after round; a slow call,
/// where those are noise, runs twice.
/// </summary>
static class CallTiming
{
    static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    public static double Median(Action call)
    {
        var total = Stopwatch.StartNew();
        var times = new List<double>();
        for (int i = 0; i < 2 || total.Elapsed < Budget; i++)
        {
            var clock = Stopwatch.StartNew();
            call();
            if (i > 0) times.Add(clock.Elapsed.TotalSeconds);
        }
        return Statistics.Median(times);
    }
}

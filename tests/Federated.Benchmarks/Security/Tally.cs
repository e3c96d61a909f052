using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;

namespace Federated.Benchmarks.Security;

/// <summary>What the attacker saw: how many calls ended with each gRPC status or HTTP code (thread-safe).</summary>
sealed class Tally
{
    readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

    public void Add(string outcome) => _counts.AddOrUpdate(outcome, 1, (_, n) => n + 1);
    public void Add(StatusCode status) => Add(status.ToString());
    public void Add(HttpStatusCode code) => Add(((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture));

    public int this[string outcome] => _counts.GetValueOrDefault(outcome);
    public int this[StatusCode status] => this[status.ToString()];
    public int this[HttpStatusCode code] => this[((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture)];
    public int Total => _counts.Values.Sum();

    /// <summary>Every call ended with <paramref name="expected"/> (and there was at least one).</summary>
    public bool All(string expected) => Total > 0 && this[expected] == Total;
    public bool All(StatusCode expected) => All(expected.ToString());
    public bool All(HttpStatusCode expected) => All(((int)expected).ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Runs a gRPC call and counts how it ended (OK or its status).</summary>
    public async Task<T?> CallAsync<T>(Func<Task<T>> call) where T : class
    {
        try
        {
            var result = await call();
            Add(StatusCode.OK);
            return result;
        }
        catch (RpcException e)
        {
            Add(e.StatusCode);
            return null;
        }
    }

    /// <summary>"Unauthenticated 200, OK 3", most frequent first.</summary>
    public override string ToString() => _counts.IsEmpty ? "nothing"
        : string.Join(", ", _counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"));
}

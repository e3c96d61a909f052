using Federated.Contracts;
using StackExchange.Redis;

namespace Federated.Storage;

/// <summary>
/// GETRANGE with its reply left in StackExchange.Redis's pooled buffer for the caller to copy out: no array per read for the
/// garbage collector to zero and collect (a round's aggregation and its downloads each read gigabytes this way).
/// </summary>
static class RedisRanges
{
    /// <summary>Bytes [start, start + length) of a string key; the reply must be disposed.</summary>
    public static Task<RespResult> GetRangeAsync(IDatabase db, RedisKey key, long start, int length) =>
        db.ExecuteRespAsync("GETRANGE", new RedisKeyOrValue[] { key, (RedisValue)start, (RedisValue)(start + length - 1) });

    /// <summary>
    /// The reply's bytes to position <paramref name="at"/> of <paramref name="destinations"/> laid end to end, chunk by chunk as
    /// the client holds them; false, copying nothing, when it does not hold exactly <paramref name="length"/> bytes (a key
    /// gone or shorter).
    /// </summary>
    public static bool TryCopy(RespResult reply, int length, long at, IReadOnlyList<Memory<byte>> destinations)
    {
        if (reply.IsNull) return false;
        var reader = reply.ReadScalar();
        if (reader.ScalarLength() != length) return false;
        foreach (var chunk in reader.ScalarChunks())
        {
            IContentStore.Scatter(chunk, at, destinations);
            at += chunk.Length;
        }
        return true;
    }
}

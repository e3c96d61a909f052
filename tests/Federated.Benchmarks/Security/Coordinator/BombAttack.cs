using Grpc.Core;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 2: a ~1 KB top-k compressed upload whose factors declare 8192 x 16384 and 16384 x 8192 (1 GiB of float32
/// once expanded). The declared shapes must be checked against the base model before anything is decompressed.
/// </summary>
static class BombAttack
{
    public static SecurityAttack Attack => new("bomb", "coordinator", "InvalidArgument before decompression; growth < 100 MiB",
        () => OnCoordinator.RunAsync(c => OnCoordinator.WarmFederationAsync(c, new FederationSpec(Clients: 3)), RunAsync, TimeSpan.FromSeconds(2)));

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        byte[] bomb = AttackPayloads.DecompressionBomb();
        var tally = new Tally();
        string? message = null;
        try
        {
            await federation.Participants[1].UploadAsync(bomb, "bomb");
            tally.Add(StatusCode.OK);
        }
        catch (RpcException e)
        {
            tally.Add(e.StatusCode);
            message = e.Status.Detail;
        }
        string observed = $"{bomb.Length:N0}-byte upload: {tally}{(message is null ? "" : $" ({Short(message)})")}";
        return AttackOutcome.RefusedIf(tally.All(StatusCode.InvalidArgument), observed, "not refused with InvalidArgument");
    }

    public static string Short(string message) => message.Length <= 90 ? message : message[..87] + "...";
}

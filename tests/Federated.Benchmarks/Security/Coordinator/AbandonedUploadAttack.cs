using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 4: an upload started, a few chunks sent, then abandoned. With the idle expiry set to
/// <see cref="CoordinatorLaunch.UploadIdleTimeout"/>, its staging must be gone (GetUploadStatus: NotFound) soon after, by a
/// timer: no other upload begins in the meantime.
/// </summary>
static class AbandonedUploadAttack
{
    static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    public static SecurityAttack Attack => new("abandoned-upload", "coordinator",
        $"NotFound within {CoordinatorLaunch.UploadIdleTimeout.TotalSeconds:0} s idle + {Grace.TotalSeconds:0} s, no other upload",
        () => OnCoordinator.RunAsync(c => OnCoordinator.WarmFederationAsync(c, new FederationSpec(Clients: 3)), RunAsync, TimeSpan.Zero));

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        var attacker = federation.Participants[1];
        byte[] payload = AttackPayloads.Adapter(federation.Spec, seed: 3);
        const int Sent = 3 * 1024;
        using (var call = attacker.Client.UploadUpdate(attacker.Auth))
        {
            await call.RequestStream.WriteAsync(new UploadUpdateRequest { Header = attacker.Header(payload.Length, AttackPayloads.Sha256(payload), "abandoned") });
            for (int at = 0; at < Sent; at += 1024)
                await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = Google.Protobuf.ByteString.CopyFrom(payload, at, 1024) });
            await call.RequestStream.CompleteAsync(); // the stream ends short: the upload stays staged, INCOMPLETE
            try { await call; } catch (RpcException) { }
        }
        var staged = await attacker.Client.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = "abandoned" }, attacker.Auth);
        var abandonedAt = DateTime.UtcNow;
        var deadline = abandonedAt + CoordinatorLaunch.UploadIdleTimeout + Grace;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(1000);
            try
            {
                await attacker.Client.GetUploadStatusAsync(new GetUploadStatusRequest { UploadId = "abandoned" }, attacker.Auth);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                return AttackOutcome.Bounded(FormattableString.Invariant(
                    $"staged {staged.AcknowledgedOffset:N0} of {payload.Length:N0} B; NotFound {(DateTime.UtcNow - abandonedAt).TotalSeconds:F0} s after abandoning"));
            }
        }
        return AttackOutcome.Failed($"staged {staged.AcknowledgedOffset:N0} of {payload.Length:N0} B; still there after {(deadline - abandonedAt).TotalSeconds:F0} s",
            "abandoned staging not expired");
    }
}

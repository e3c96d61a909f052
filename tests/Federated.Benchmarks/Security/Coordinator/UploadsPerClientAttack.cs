using Federated.Protocol.V1;
using Grpc.Core;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 4: one client opens 200 uploads at once, each declaring 2 GiB, sends the header and one 64 KiB chunk,
/// and holds the stream open. At most Coordinator:Staging:MaxUploadsPerClient (2) streams may stay open, and the staging keeps
/// one upload; the rest must be refused (ResourceExhausted or FailedPrecondition).
/// The uploads are opened at 40 a second, under the per-client call rate, so the rate limit is not what refuses them.
/// </summary>
static class UploadsPerClientAttack
{
    const int Uploads = 200, PerSecond = 40, MaxStreams = 2;
    const long Declared = 2L << 30;
    static readonly TimeSpan Hold = TimeSpan.FromSeconds(2);

    public static SecurityAttack Attack => new("uploads-per-client", "coordinator", "at most 2 streams open (1 staged); the rest ResourceExhausted/FailedPrecondition",
        () => OnCoordinator.RunAsync(c => OnCoordinator.WarmFederationAsync(c, new FederationSpec(Clients: 3)), RunAsync, TimeSpan.FromSeconds(1), twice: true));

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        var attacker = federation.Participants[1];
        var chunk = Google.Protobuf.ByteString.CopyFrom(new byte[64 << 10]);
        var calls = new List<AsyncClientStreamingCall<UploadUpdateRequest, UploadUpdateResponse>>();
        try
        {
            for (int i = 0; i < Uploads; i++)
            {
                var call = attacker.Client.UploadUpdate(attacker.Auth);
                calls.Add(call);
                try
                {
                    // Any 64 hex digits: the payload never completes, so its hash is never checked.
                    await call.RequestStream.WriteAsync(new UploadUpdateRequest { Header = attacker.Header(Declared, new string('a', 64), $"held-{i}") });
                    await call.RequestStream.WriteAsync(new UploadUpdateRequest { Data = chunk });
                }
                catch (RpcException) { } // refused already: the response says how
                catch (InvalidOperationException) { }
                await Task.Delay(1000 / PerSecond);
            }
            await Task.Delay(Hold);
            var tally = new Tally();
            foreach (var call in calls)
            {
                if (!call.ResponseAsync.IsCompleted) { tally.Add("held open"); continue; }
                try { tally.Add((await call.ResponseAsync).UploadStatus.ToString()); }
                catch (RpcException e) { tally.Add(e.Status.Detail.Contains("rate limit", StringComparison.OrdinalIgnoreCase) ? $"{e.StatusCode} (rate limit)" : e.StatusCode.ToString()); }
            }
            int refused = tally[StatusCode.ResourceExhausted] + tally[$"{StatusCode.ResourceExhausted} (rate limit)"] + tally[StatusCode.FailedPrecondition]
                + tally[StatusCode.NotFound]; // replaced in the staging by a newer upload of the same client and round
            string observed = $"{Uploads} uploads declaring 2 GiB: {tally}";
            return AttackOutcome.RefusedIf(tally["held open"] <= MaxStreams && refused >= Uploads - MaxStreams, observed,
                $"{tally["held open"]} held open at once (at most {MaxStreams} allowed)");
        }
        finally
        {
            foreach (var call in calls) call.Dispose(); // cancels what is still open
        }
    }
}

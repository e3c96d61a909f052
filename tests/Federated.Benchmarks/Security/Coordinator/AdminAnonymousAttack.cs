using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Federated.Benchmarks.Security.Coordinator;

/// <summary>
/// Issue 15, item 1: the operator API without credentials. 200 anonymous and 20 wrong-key <c>POST /api/federations</c> on the
/// admin port, 20 on the agents' port (HTTP/2, as gRPC clients speak), and three <c>rounds/1/close</c> with a viewer's key.
/// </summary>
static class AdminAnonymousAttack
{
    const int Anonymous = 200, WrongKey = 20, AgentsPort = 20, ViewerCloses = 3;

    public static SecurityAttack Attack => new("admin-anonymous", "coordinator",
        $"401 x{Anonymous} anonymous, 401 x{WrongKey} wrong key; 404 x{AgentsPort} on the agents' port; 403 x{ViewerCloses} viewer close",
        () => OnCoordinator.RunAsync(WarmAsync, RunAsync, TimeSpan.FromSeconds(1)));

    /// <summary>The federation, and one refused request of each kind, so the attack is not charged for JIT-compiling the refusal paths.</summary>
    static async Task<SuiteFederation> WarmAsync(AttackedCoordinator coordinator)
    {
        var federation = await coordinator.FederationAsync(new FederationSpec());
        using var http = new HttpClient { BaseAddress = coordinator.AdminAddress };
        await http.PostAsJsonAsync("/api/federations", Body(-1));
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-key-" + new string('x', 40));
        await http.PostAsJsonAsync("/api/federations", Body(-2));
        return federation;
    }

    static async Task<AttackOutcome> RunAsync(AttackedCoordinator coordinator, SuiteFederation federation)
    {
        var anonymous = new Tally();
        using (var http = new HttpClient { BaseAddress = coordinator.AdminAddress })
            for (int i = 0; i < Anonymous; i++)
                anonymous.Add((await http.PostAsJsonAsync("/api/federations", Body(i))).StatusCode);

        var wrongKey = new Tally();
        using (var http = new HttpClient { BaseAddress = coordinator.AdminAddress })
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-key-" + new string('x', 40));
            for (int i = 0; i < WrongKey; i++)
                wrongKey.Add((await http.PostAsJsonAsync("/api/federations", Body(Anonymous + i))).StatusCode);
        }

        // The agents' port speaks HTTP/2 only (h2c): the request a browser or curl --http2-prior-knowledge would send.
        var agentsPort = new Tally();
        using (var http = new HttpClient { BaseAddress = coordinator.AgentsAddress })
            for (int i = 0; i < AgentsPort; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/federations")
                {
                    Content = JsonContent.Create(Body(Anonymous + WrongKey + i)),
                    Version = HttpVersion.Version20,
                    VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                };
                agentsPort.Add((await http.SendAsync(request)).StatusCode);
            }

        var viewer = new Tally();
        using (var http = new HttpClient { BaseAddress = coordinator.AdminAddress })
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", CoordinatorLaunch.ViewerKey);
            for (int i = 0; i < ViewerCloses; i++)
                viewer.Add((await http.PostAsync($"/api/federations/{federation.Id}/rounds/1/close", null)).StatusCode);
        }

        string observed = $"anonymous: {anonymous}; wrong key: {wrongKey}; agents' port: {agentsPort}; viewer close: {viewer}";
        var problems = new List<string>();
        if (!anonymous.All(HttpStatusCode.Unauthorized)) problems.Add($"{anonymous.Total - anonymous[HttpStatusCode.Unauthorized]} anonymous requests not 401");
        if (!wrongKey.All(HttpStatusCode.Unauthorized)) problems.Add($"{wrongKey.Total - wrongKey[HttpStatusCode.Unauthorized]} wrong-key requests not 401");
        if (!agentsPort.All(HttpStatusCode.NotFound)) problems.Add("/api answers on the agents' port");
        if (!viewer.All(HttpStatusCode.Forbidden))
            problems.Add(viewer[HttpStatusCode.OK] > 0 ? "a viewer closed a round (no roles)" : "viewer close not 403");
        return AttackOutcome.RefusedIf(problems.Count == 0, observed, string.Join("; ", problems));
    }

    static object Body(int i) => new
    {
        id = $"anon-{i}",
        config = new FederationSpec().Config(),
    };
}

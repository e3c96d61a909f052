using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Federated.Cli;
using Federated.Coordinator.Tests.Api;

namespace Federated.Coordinator.Tests.Process;

/// <summary>Who may call the admin API, and where, against a real coordinator process (<see cref="SecuredCoordinator"/>).</summary>
public sealed class OperatorSecurityTests(SecuredCoordinator coordinator) : IClassFixture<SecuredCoordinator>
{
    const string Architecture = "\"architecture\": {\"hiddenSize\": 64, \"numHiddenLayers\": 2, \"numAttentionHeads\": 4, \"numKeyValueHeads\": 2, \"intermediateSize\": 176}";

    HttpClient As(string? key) => TestOperators.Client(coordinator.Admin, key);

    static StringContent CreateBody(string id) =>
        new($$$"""{"id": "{{{id}}}", "config": { {{{Architecture}}}, "baseModel": "m", "rounds": 2 } }""", Encoding.UTF8, "application/json");

    /// <summary>Creates a federation as the admin and returns its id.</summary>
    async Task<string> CreatedFederation()
    {
        string id = CoordinatorHost.NewId("sec");
        using var admin = As(TestOperators.AdminKey);
        var created = await admin.PostAsync("/api/federations", CreateBody(id));
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        return id;
    }

    /// <summary>An RFC 7807 body with the given status; returns its detail.</summary>
    static async Task<string> Problem(HttpResponseMessage response, HttpStatusCode status)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem.GetProperty("detail").GetString()!;
    }

    [Fact]
    public async Task Anonymous_and_wrong_key_requests_get_401_problem_details_on_the_admin_port()
    {
        string id = await CreatedFederation();
        using var anonymous = As(null);
        Assert.Contains("no credential", await Problem(await anonymous.GetAsync("/api/federations"), HttpStatusCode.Unauthorized));
        Assert.Contains("no credential", await Problem(await anonymous.PostAsync("/api/federations", CreateBody(CoordinatorHost.NewId("anon"))), HttpStatusCode.Unauthorized));
        Assert.Contains("no credential", await Problem(await anonymous.PostAsync($"/api/federations/{id}/rounds/1/close", null), HttpStatusCode.Unauthorized));
        Assert.Contains("no credential", await Problem(await anonymous.GetAsync($"/api/federations/{id}/model"), HttpStatusCode.Unauthorized));

        using var wrong = As("fed_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        Assert.Contains("unknown API key", await Problem(await wrong.GetAsync($"/api/federations/{id}"), HttpStatusCode.Unauthorized));
        Assert.Contains("unknown API key", await Problem(await wrong.PostAsync($"/api/federations/{id}/start", null), HttpStatusCode.Unauthorized));
        // Nothing was created by the refused create.
        using var admin = As(TestOperators.AdminKey);
        Assert.DoesNotContain("\"anon-", await admin.GetStringAsync("/api/federations"));
    }

    [Fact]
    public async Task A_viewer_reads_but_gets_403_on_create_start_close_and_download()
    {
        string id = await CreatedFederation();
        using var viewer = As(TestOperators.ViewerKey);
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("/api/federations")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync($"/api/federations/{id}")).StatusCode);

        string create = await Problem(await viewer.PostAsync("/api/federations", CreateBody(CoordinatorHost.NewId("viewer"))), HttpStatusCode.Forbidden);
        Assert.Equal("this needs the role 'admin'; 'test-viewer' has viewer", create);
        await Problem(await viewer.PostAsync($"/api/federations/{id}/start", null), HttpStatusCode.Forbidden);
        await Problem(await viewer.PostAsync($"/api/federations/{id}/rounds/1/close", null), HttpStatusCode.Forbidden);
        Assert.Contains("one of the roles 'download', 'admin'", await Problem(await viewer.GetAsync($"/api/federations/{id}/adapter"), HttpStatusCode.Forbidden));
        await Problem(await viewer.GetAsync($"/api/federations/{id}/model"), HttpStatusCode.Forbidden);
        Assert.Equal("Created", JsonDocument.Parse(await viewer.GetStringAsync($"/api/federations/{id}")).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_download_permission_reaches_downloads_but_neither_reads_nor_changes()
    {
        string id = await CreatedFederation();
        using var download = As(TestOperators.DownloadKey);
        // Past authorization: the federation simply has no adapter yet.
        Assert.Contains("has no global adapter yet", await Problem(await download.GetAsync($"/api/federations/{id}/adapter"), HttpStatusCode.NotFound));
        Assert.Contains("'test-download' has download", await Problem(await download.GetAsync($"/api/federations/{id}"), HttpStatusCode.Forbidden));
        await Problem(await download.PostAsync($"/api/federations/{id}/start", null), HttpStatusCode.Forbidden);
    }

    [Theory]
    [InlineData("/api/federations")]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/metrics")]
    public async Task The_admin_api_health_and_metrics_answer_404_on_the_agents_port(string path)
    {
        using var http = new HttpClient();
        // The agents' endpoint speaks HTTP/2 only (h2c on loopback); a Host header naming the admin port changes nothing.
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(coordinator.Agents, path))
        {
            Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestOperators.AdminKey);
        request.Headers.Host = $"127.0.0.1:{coordinator.Admin.Port}";
        var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/metrics")]
    public async Task Health_readiness_and_metrics_stay_open_on_the_admin_port(string path)
    {
        using var anonymous = As(null);
        var response = await anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_JWT_signed_by_the_configured_key_with_the_admin_role_creates_a_federation()
    {
        using var carol = As(coordinator.Token("carol", ["admin"]));
        string id = CoordinatorHost.NewId("jwt");
        var created = await carol.PostAsync("/api/federations", CreateBody(id));
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        await coordinator.LogLineAsync("audit: carol (jwt) POST /api/federations", $"id={id}", "succeeded (201)");

        using var dave = As(coordinator.Token("dave", ["viewer"]));
        Assert.Equal(HttpStatusCode.OK, (await dave.GetAsync($"/api/federations/{id}")).StatusCode);
        Assert.Equal("this needs the role 'admin'; 'dave' has viewer", await Problem(await dave.PostAsync($"/api/federations/{id}/start", null), HttpStatusCode.Forbidden));
    }

    public static TheoryData<string, string> RefusedTokens => new()
    {
        { "wrong-signature", "signature does not verify" },
        { "expired", "the token expired at" },
        { "other-audience", "not issued for this coordinator's audience" },
    };

    [Theory]
    [MemberData(nameof(RefusedTokens))]
    public async Task A_JWT_with_a_wrong_signature_expired_or_for_another_audience_gets_401(string kind, string reason)
    {
        using var other = RSA.Create(2048);
        string token = kind switch
        {
            "wrong-signature" => coordinator.Token("mallory", ["admin"], signer: other),
            "expired" => coordinator.Token("mallory", ["admin"], expires: DateTime.UtcNow.AddHours(-1)),
            _ => coordinator.Token("mallory", ["admin"], audience: "another-service"),
        };
        using var mallory = As(token);
        Assert.Contains(reason, await Problem(await mallory.PostAsync("/api/federations", CreateBody(CoordinatorHost.NewId("jwt"))), HttpStatusCode.Unauthorized));
        Assert.Contains(reason, await Problem(await mallory.GetAsync("/api/federations"), HttpStatusCode.Unauthorized));
    }

    [Fact]
    public async Task A_valid_JWT_without_roles_gets_403()
    {
        using var erin = As(coordinator.Token("erin", roles: null));
        Assert.Equal("this needs one of the roles 'viewer', 'admin'; 'erin' has no roles", await Problem(await erin.GetAsync("/api/federations"), HttpStatusCode.Forbidden));
    }

    [Fact]
    public async Task Creates_and_refused_creates_are_audit_events_naming_the_caller()
    {
        string id = await CreatedFederation();
        string line = await coordinator.LogLineAsync("audit: test-admin (api-key) POST /api/federations", $"id={id}");
        Assert.Contains("succeeded (201) from 127.0.0.1", line);

        using var viewer = As(TestOperators.ViewerKey);
        await viewer.PostAsync($"/api/federations/{id}/start", null);
        await coordinator.LogLineAsync("audit: test-viewer (api-key) POST /api/federations/{id}/start", $"id={id}", "refused: this needs the role 'admin'", "(403)");

        // A failed change is an event too, with the coordinator's reason.
        using var admin = As(TestOperators.AdminKey);
        await admin.PostAsync($"/api/federations/{id}/start", null);
        await coordinator.LogLineAsync("audit: test-admin (api-key) POST /api/federations/{id}/start", $"id={id}", "failed:", "(409)");
    }

    [Fact]
    public async Task A_key_minted_by_fed_apikey_create_is_accepted_with_its_role()
    {
        using var minted = As(coordinator.MintedKey);
        Assert.Equal(HttpStatusCode.OK, (await minted.GetAsync("/api/federations")).StatusCode);
        Assert.Contains("'minted' has viewer", await Problem(await minted.PostAsync("/api/federations", CreateBody(CoordinatorHost.NewId("minted"))), HttpStatusCode.Forbidden));
    }

    static (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = FedCommandLine.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task The_cli_sends_the_api_key_given_by_flag_or_by_FED_API_KEY_and_says_in_one_line_when_refused()
    {
        string id = await CreatedFederation();
        string url = coordinator.Admin.ToString();

        var byFlag = Fed("federation", "show", id, "--coordinator", url, "--api-key", TestOperators.ViewerKey);
        Assert.True(byFlag.Exit == 0, byFlag.Err);
        Assert.Contains($"id             : {id}", byFlag.Out);

        string? previous = Environment.GetEnvironmentVariable("FED_API_KEY");
        try
        {
            Environment.SetEnvironmentVariable("FED_API_KEY", TestOperators.ViewerKey);
            var byEnvironment = Fed("federation", "list", "--coordinator", url);
            Assert.True(byEnvironment.Exit == 0, byEnvironment.Err);
            Assert.Contains(id, byEnvironment.Out);
            var forbidden = Fed("federation", "start", id, "--coordinator", url);
            Assert.Equal(FedCommandLine.ExitFailure, forbidden.Exit);
            Assert.Equal("fed: error: not allowed: this needs the role 'admin'; 'test-viewer' has viewer", forbidden.Err.Trim());
            // The flag wins over the environment: the admin gets past authorization (to the federation's own refusal: no clients yet).
            var asAdmin = Fed("federation", "start", id, "--coordinator", url, "--api-key", TestOperators.AdminKey);
            Assert.Equal(FedCommandLine.ExitFailure, asAdmin.Exit);
            Assert.DoesNotContain("not allowed", asAdmin.Err);
            Assert.DoesNotContain("not authenticated", asAdmin.Err);

            Environment.SetEnvironmentVariable("FED_API_KEY", null);
            var anonymous = Fed("client", "show", "someone", "--coordinator", url);
            Assert.Equal(FedCommandLine.ExitFailure, anonymous.Exit);
            string line = Assert.Single(anonymous.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("fed: error: not authenticated: no credential", line);
            Assert.Contains("--api-key or FED_API_KEY", line);

            var wrong = Fed("adapter", "download", id, "--out", Path.Combine(coordinator.Root, "never"), "--coordinator", url, "--api-key", "fed_wrong");
            Assert.Equal("fed: error: not authenticated: unknown API key (not among the coordinator's configured keys; it may have been removed)", wrong.Err.Trim());
        }
        finally
        {
            Environment.SetEnvironmentVariable("FED_API_KEY", previous);
        }
    }

    [Fact]
    public void The_api_key_option_is_recursive_and_its_help_never_shows_the_environments_key()
    {
        string? previous = Environment.GetEnvironmentVariable("FED_API_KEY");
        try
        {
            Environment.SetEnvironmentVariable("FED_API_KEY", "fed_secret-that-help-must-not-print");
            var help = Fed("federation", "list", "--help");
            Assert.Contains("--api-key", help.Out);
            Assert.DoesNotContain("fed_secret", help.Out);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FED_API_KEY", previous);
        }
        foreach (string group in new[] { "federation", "round", "client" })
            Assert.True(FedCommandLine.Create().Subcommands.Single(c => c.Name == group).Options.Single(o => o.Name == "--api-key").Recursive);
    }
}

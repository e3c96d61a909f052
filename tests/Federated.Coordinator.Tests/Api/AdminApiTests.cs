using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Federated.Coordinator.Tests.Api;

[Collection(CoordinatorCollection.Name)]
public sealed class AdminApiTests(CoordinatorHost coordinator)
{
    /// <summary>The base model's manifest every federation pins (the tiny preset's config.json fields).</summary>
    const string Tiny = "\"architecture\": {\"hiddenSize\": 64, \"numHiddenLayers\": 2, \"numAttentionHeads\": 4, \"numKeyValueHeads\": 2, \"intermediateSize\": 176}";

    HttpClient Http => coordinator.Http;

    Task<HttpResponseMessage> PostJson(string path, string json) =>
        Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    static async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

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
    public async Task Create_returns_201_with_its_location_and_get_returns_the_same_config_with_defaults_filled_in()
    {
        string id = CoordinatorHost.NewId();
        var created = await PostJson("/api/federations", $$$"""
            {"id": "{{{id}}}", "config": { {{{Tiny}}}, "baseModel": "tiny-llama", "targetModules": ["q_proj", "k_proj"], "rounds": 4,
             "clientsPerRound": 6, "quorum": 3, "roundDeadline": "45m", "rankPolicy": {"cpuRank": 8, "tiers": []},
             "aggregation": {"strategy": "flexlora", "rule": "geometric-median"} } }
            """);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/api/federations/{id}", created.Headers.Location?.OriginalString);
        var view = await Json(created);
        Assert.Equal("Created", view.GetProperty("status").GetString());

        var got = await Json(await Http.GetAsync($"/api/federations/{id}"));
        var config = got.GetProperty("config");
        Assert.Equal(view.GetProperty("config").GetRawText(), config.GetRawText());
        Assert.Equal("tiny-llama", config.GetProperty("baseModel").GetString());
        Assert.Equal(["q_proj", "k_proj"], config.GetProperty("targetModules").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(4, config.GetProperty("rounds").GetInt32());
        Assert.Equal(3, config.GetProperty("quorum").GetInt32());
        Assert.Equal("00:45:00", config.GetProperty("roundDeadline").GetString());
        Assert.Equal(8, config.GetProperty("rankPolicy").GetProperty("cpuRank").GetInt32());
        Assert.Equal(0, config.GetProperty("rankPolicy").GetProperty("tiers").GetArrayLength());
        Assert.Equal("flexlora", config.GetProperty("aggregation").GetProperty("strategy").GetString());
        Assert.Equal("geometric-median", config.GetProperty("aggregation").GetProperty("rule").GetString());
        // Omitted fields take FederationConfig.Default's values.
        Assert.Equal("00:05:00", config.GetProperty("clientTimeout").GetString());
        Assert.Equal(50, config.GetProperty("training").GetProperty("localSteps").GetInt32());
        Assert.Equal(0.25, config.GetProperty("minReputation").GetDouble());
    }

    [Fact]
    public async Task Creating_with_only_a_base_model_takes_every_default()
    {
        string id = CoordinatorHost.NewId();
        var created = await PostJson("/api/federations", $$$"""{"id": "{{{id}}}", "config": { {{{Tiny}}}, "baseModel": "m"}}""");
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var config = (await Json(created)).GetProperty("config");
        Assert.Equal(10, config.GetProperty("rounds").GetInt32());
        Assert.Equal(10, config.GetProperty("clientsPerRound").GetInt32());
        Assert.Equal(5, config.GetProperty("quorum").GetInt32());
        Assert.Equal("flora", config.GetProperty("aggregation").GetProperty("strategy").GetString());
        Assert.Equal(4, config.GetProperty("rankPolicy").GetProperty("tiers").GetArrayLength());
    }

    [Fact]
    public async Task Creating_again_with_the_same_config_succeeds_and_with_another_is_409_saying_so()
    {
        string id = CoordinatorHost.NewId();
        string body = $$$"""{"id": "{{{id}}}", "config": { {{{Tiny}}}, "baseModel": "a"}}""";
        Assert.Equal(HttpStatusCode.Created, (await PostJson("/api/federations", body)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostJson("/api/federations", body)).StatusCode);

        var again = await PostJson("/api/federations", $$$"""{"id": "{{{id}}}", "config": { {{{Tiny}}}, "baseModel": "b"}}""");
        string detail = await Problem(again, HttpStatusCode.Conflict);
        Assert.Contains(id, detail);
        Assert.Contains("already exists", detail);
    }

    [Fact]
    public async Task An_unknown_federation_is_404_naming_it()
    {
        string detail = await Problem(await Http.GetAsync("/api/federations/no-such-federation"), HttpStatusCode.NotFound);
        Assert.Contains("no-such-federation", detail);
        await Problem(await Http.PostAsync("/api/federations/no-such-federation/start", null), HttpStatusCode.NotFound);
        await Problem(await Http.GetAsync("/api/federations/no-such-federation/rounds/1"), HttpStatusCode.NotFound);
        await Problem(await Http.GetAsync("/api/federations/no-such-federation/adapter"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_quorum_above_the_clients_per_round_is_400_naming_the_field()
    {
        var response = await PostJson("/api/federations", $$$"""{"id": "{{{CoordinatorHost.NewId()}}}", "config": { {{{Tiny}}}, "baseModel": "m", "clientsPerRound": 3, "quorum": 4}}""");
        string detail = await Problem(response, HttpStatusCode.BadRequest);
        Assert.Contains("quorum", detail);
        Assert.Contains("clientsPerRound (3)", detail);
    }

    [Fact]
    public async Task An_unknown_strategy_is_400_naming_the_field_and_the_choices()
    {
        var response = await PostJson("/api/federations", $$$"""{"id": "{{{CoordinatorHost.NewId()}}}", "config": { {{{Tiny}}}, "baseModel": "m", "aggregation": {"strategy": "fedavg"} } }""");
        string detail = await Problem(response, HttpStatusCode.BadRequest);
        Assert.Contains("aggregation.strategy", detail);
        Assert.Contains("'fedavg'", detail);
        Assert.Contains("flora", detail);
    }

    [Theory]
    [InlineData("""{"id": "x", "config": {"baseModel": "m",""", "end of data")]
    [InlineData("""{"id": "x", "config": {"baseModel": "m", "quorum": "five"}}""", "$.config.quorum")]
    [InlineData("""{"id": "x", "config": {"baseModel": "m", "qourum": 2}}""", "unknown field 'qourum' at $.config")]
    [InlineData("""{"id": "x", "config": {"baseModel": "m", "roundDeadline": "soon"}}""", "'soon' is not a duration")]
    [InlineData("""{"id": "x", "config": {"baseModel": "m", "rankPolicy": {"tiers": [{"rank": 8}]}}}""", "minGpuMemoryBytes")]
    [InlineData("""{"id": "x", "config": {"rounds": 3}}""", "config.baseModel is required")]
    [InlineData("""{"id": "x", "config": {"baseModel": "m"}}""", "architecture: required")]
    [InlineData("""{"id": "x"}""", "config is required")]
    [InlineData("""{"config": {"baseModel": "m"}}""", "id is required")]
    [InlineData("""{"id": "not/valid", "config": {"baseModel": "m"}}""", "not a valid federation id")]
    public async Task Malformed_or_incomplete_requests_are_400_with_a_precise_message(string body, string expected)
    {
        string detail = await Problem(await PostJson("/api/federations", body), HttpStatusCode.BadRequest);
        Assert.Contains(expected, detail);
    }

    [Fact]
    public async Task A_round_number_that_is_not_an_integer_is_400_not_404_or_500()
    {
        string detail = await Problem(await Http.GetAsync("/api/federations/any/rounds/abc"), HttpStatusCode.BadRequest);
        Assert.Contains("abc", detail);
        detail = await Problem(await Http.GetAsync("/api/federations/any/rounds/0"), HttpStatusCode.BadRequest);
        Assert.Contains("round must be 1 or more", detail);
    }

    [Fact]
    public async Task The_list_holds_every_created_federation_with_its_view()
    {
        string a = CoordinatorHost.NewId("list"), b = CoordinatorHost.NewId("list");
        await PostJson("/api/federations", $$$"""{"id": "{{{a}}}", "config": { {{{Tiny}}}, "baseModel": "m1"}}""");
        await PostJson("/api/federations", $$$"""{"id": "{{{b}}}", "config": { {{{Tiny}}}, "baseModel": "m2"}}""");
        var list = await Json(await Http.GetAsync("/api/federations"));
        var byId = list.EnumerateArray().ToDictionary(f => f.GetProperty("id").GetString()!);
        Assert.Equal("m1", byId[a].GetProperty("config").GetProperty("baseModel").GetString());
        Assert.Equal("m2", byId[b].GetProperty("config").GetProperty("baseModel").GetString());
        Assert.Equal("Created", byId[b].GetProperty("status").GetString());
    }

    [Fact]
    public async Task Starting_without_enough_registered_clients_is_409_saying_what_is_missing()
    {
        string id = CoordinatorHost.NewId();
        await PostJson("/api/federations", $$$"""{"id": "{{{id}}}", "config": { {{{Tiny}}}, "baseModel": "m", "clientsPerRound": 2, "quorum": 2}}""");
        string detail = await Problem(await Http.PostAsync($"/api/federations/{id}/start", null), HttpStatusCode.Conflict);
        Assert.Contains("quorum", detail);
    }

    [Fact]
    public async Task A_federation_without_finished_rounds_has_no_adapter_to_download()
    {
        string id = CoordinatorHost.NewId();
        await PostJson("/api/federations", $$$"""{"id": "{{{id}}}", "config": { {{{Tiny}}}, "baseModel": "m"}}""");
        Assert.Contains("no global adapter yet", await Problem(await Http.GetAsync($"/api/federations/{id}/adapter"), HttpStatusCode.NotFound));
        Assert.Contains("no finished round 3", await Problem(await Http.GetAsync($"/api/federations/{id}/adapter?round=3"), HttpStatusCode.NotFound));
    }

    [Fact]
    public async Task An_unregistered_client_is_404()
    {
        Assert.Contains("not registered", await Problem(await Http.GetAsync("/api/clients/nobody"), HttpStatusCode.NotFound));
    }

    [Fact]
    public async Task Enums_are_strings_and_names_are_camel_case()
    {
        string id = CoordinatorHost.NewId();
        var view = await Json(await PostJson("/api/federations", $$$"""{"id": "{{{id}}}", "config": { {{{Tiny}}}, "baseModel": "m"}}"""));
        Assert.Equal(JsonValueKind.String, view.GetProperty("status").ValueKind);
        Assert.True(view.TryGetProperty("completedRounds", out _));
        Assert.True(view.TryGetProperty("createdAt", out _));
    }
}

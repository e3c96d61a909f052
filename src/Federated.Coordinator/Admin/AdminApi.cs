using Federated.Contracts;
using Federated.Coordinator.Security;
using Federated.Grains;
using Federated.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Federated.Coordinator.Admin;

/// <summary>
/// The operator's HTTP API under <c>/api</c> (what <c>fed federation|round|adapter|client</c> call): create, list,
/// inspect and start federations, inspect and close rounds, inspect clients, download global adapters. JSON per <see cref="AdminJson"/>;
/// refusals are problem details (<see cref="AdminProblems"/>). Who may call which route: <see cref="OperatorPolicies"/>.
/// </summary>
public static class AdminApi
{
    public static WebApplicationBuilder AddAdminApi(this WebApplicationBuilder builder)
    {
        builder.Services.ConfigureHttpJsonOptions(o => AdminJson.Configure(o.SerializerOptions));
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<AdminProblems>();
        // Binding failures (malformed JSON, "round=abc") throw, so AdminProblems can say precisely what was wrong.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return builder;
    }

    public static WebApplication MapAdminApi(this WebApplication app)
    {
        var api = app.MapOperatorApi();
        api.MapPost("/federations", CreateFederation).RequireAuthorization(OperatorPolicies.Admin);
        api.MapGet("/federations", ListFederations).RequireAuthorization(OperatorPolicies.Viewer);
        api.MapGet("/federations/{id}", GetFederation).RequireAuthorization(OperatorPolicies.Viewer);
        api.MapPost("/federations/{id}/start", StartFederation).RequireAuthorization(OperatorPolicies.Admin);
        // No route constraint on round: "abc" is a 400 that says so, not a 404.
        api.MapGet("/federations/{id}/rounds/{round}", GetRound).RequireAuthorization(OperatorPolicies.Viewer);
        api.MapPost("/federations/{id}/rounds/{round}/close", CloseRound).RequireAuthorization(OperatorPolicies.Admin);
        api.MapGet("/federations/{id}/adapter", DownloadAdapter).RequireAuthorization(OperatorPolicies.Download).WithMetadata(AuditedMetadata.Instance);
        api.MapGet("/federations/{id}/model", DownloadModel).RequireAuthorization(OperatorPolicies.Download).WithMetadata(AuditedMetadata.Instance);
        api.MapGet("/clients/{clientId}", GetClient).RequireAuthorization(OperatorPolicies.Viewer);
        api.MapEnrollmentApi();
        return app;
    }

    /// <summary>
    /// The <c>/api</c> group every operator route belongs to: served on the admin endpoint only, authenticated (each route
    /// adds its <see cref="OperatorPolicies"/> policy), and audited (every change, see <see cref="OperatorAudit"/>).
    /// </summary>
    public static RouteGroupBuilder MapOperatorApi(this WebApplication app) =>
        app.MapGroup("/api").OnlyOnAdminEndpoint().RequireAuthorization().AddEndpointFilter<OperatorAuditFilter>();

    static async Task<Created<FederationView>> CreateFederation(CreateFederationRequest request, IGrainFactory grains)
    {
        string id = CheckedId(request.Id ?? throw Invalid("id is required"));
        var config = (request.Config ?? throw Invalid("config is required (at least {\"baseModel\": \"...\"})")).ToConfig();
        var view = await grains.GetGrain<IFederationGrain>(id).CreateAsync(config);
        return TypedResults.Created($"/api/federations/{id}", view);
    }

    static async Task<FederationView[]> ListFederations(IGrainFactory grains)
    {
        string[] ids = await grains.GetGrain<IFederationDirectoryGrain>(0).ListAsync();
        return await Task.WhenAll(ids.Order(StringComparer.Ordinal).Select(id => grains.GetGrain<IFederationGrain>(id).GetAsync()));
    }

    static Task<FederationView> GetFederation(string id, IGrainFactory grains) =>
        grains.GetGrain<IFederationGrain>(CheckedId(id)).GetAsync();

    static Task<FederationView> StartFederation(string id, IGrainFactory grains) =>
        grains.GetGrain<IFederationGrain>(CheckedId(id)).StartAsync();

    static async Task<RoundView> GetRound(string id, int round, IGrainFactory grains) =>
        await (await RoundOf(id, round, grains)).GetAsync();

    /// <summary>Closes an open round now instead of at its deadline: it aggregates what was submitted with a quorum, else fails.</summary>
    static async Task<RoundView> CloseRound(string id, int round, IGrainFactory grains) =>
        await (await RoundOf(id, round, grains)).CloseAsync();

    static async Task<IRoundGrain> RoundOf(string id, int round, IGrainFactory grains)
    {
        if (round < 1)
            throw Invalid($"round must be 1 or more, not {round}");
        // Asking a round grain of an unknown federation would only say "round never opened": name the federation instead.
        await grains.GetGrain<IFederationGrain>(CheckedId(id)).GetAsync();
        return grains.GetGrain<IRoundGrain>(GrainKeys.Round(id, round));
    }

    static Task<ClientView> GetClient(string clientId, IGrainFactory grains) =>
        grains.GetGrain<IClientGrain>(clientId).GetAsync();

    /// <summary>The stored payload (AdapterPayload bytes) of the latest global adapter, or of round <paramref name="round"/>'s.</summary>
    static async Task<FileStreamHttpResult> DownloadAdapter(string id, int? round, IGrainFactory grains, IContentStore store, HttpContext http)
    {
        var view = await grains.GetGrain<IFederationGrain>(CheckedId(id)).GetAsync();
        StoredUpdate adapter;
        int adapterRound;
        if (round is null)
        {
            adapter = view.GlobalAdapter ?? throw NotFound($"federation '{id}' has no global adapter yet (completed rounds: {view.CompletedRounds})");
            adapterRound = view.History.LastOrDefault(r => r.GlobalAdapter == adapter)?.Round ?? view.CompletedRounds;
        }
        else
        {
            var record = view.History.FirstOrDefault(r => r.Round == round)
                ?? throw NotFound($"federation '{id}' has no finished round {round} (completed rounds: {view.CompletedRounds})");
            adapter = record.GlobalAdapter ?? throw NotFound($"round {round} of federation '{id}' produced no global adapter ({record.Status}{(record.FailureReason is { } why ? $": {why}" : "")})");
            adapterRound = record.Round;
        }
        return await StreamAsync(adapter, adapterRound, $"{id}-round-{adapterRound}.safetensors", store, http);
    }

    /// <summary>
    /// The federation's whole model (base + merged history + live adapter) as one adapter payload with its export report in
    /// the metadata: exact, at <paramref name="rank"/>, or the smallest vLLM rank within <paramref name="maxError"/>.
    /// </summary>
    static async Task<FileStreamHttpResult> DownloadModel(string id, int? rank, double? maxError, IGrainFactory grains, IContentStore store, HttpContext http)
    {
        if (rank is not null && maxError is not null) throw Invalid("give rank or maxError, not both");
        var export = await grains.GetGrain<IFederationGrain>(CheckedId(id)).ExportModelAsync(rank, maxError);
        return await StreamAsync(export.Payload, export.CompletedRounds, $"{id}-model-{export.Kind}-round-{export.CompletedRounds}.safetensors", store, http);
    }

    static async Task<FileStreamHttpResult> StreamAsync(StoredUpdate adapter, int round, string fileName, IContentStore store, HttpContext http)
    {
        var stream = await store.OpenReadAsync(adapter, cancellationToken: http.RequestAborted);
        // The client checks what it received against these.
        http.Response.Headers["X-Federated-Round"] = round.ToString(System.Globalization.CultureInfo.InvariantCulture);
        http.Response.Headers["X-Federated-Sha256"] = adapter.Sha256;
        return TypedResults.Stream(stream, "application/octet-stream", fileName,
            entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{adapter.Sha256}\""), enableRangeProcessing: true);
    }

    static string CheckedId(string id) => GrainKeys.IsValidId(id) ? id
        : throw Invalid($"'{id}' is not a valid federation id (1 to 64 letters, digits, '-', '_' or '.')");

    static FederationException Invalid(string message) => new(FederationError.InvalidArgument, message);

    static FederationException NotFound(string message) => new(FederationError.NotFound, message);
}

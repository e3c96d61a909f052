using Federated.Coordinator.Hosting;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Routing.Matching;

namespace Federated.Coordinator.Security;

/// <summary>
/// The admin API, <c>/metrics</c> and health are served only on the admin endpoint: the Kestrel endpoint named by
/// <c>Coordinator:Admin:Endpoint</c> (default <c>http</c>, port 5080). The agents' public endpoint answers 404 for them.
/// Kestrel tags each connection accepted on that endpoint, and routing drops admin-only routes on any other connection.
/// Not <c>RequireHost</c>: that matches the Host header, which the caller chooses, not the port the request arrived on.
/// </summary>
public static class AdminEndpoint
{
    public const string EndpointKey = "Coordinator:Admin:Endpoint";
    public const string DefaultName = "http";

    static readonly object Tag = new();

    /// <exception cref="InvalidCoordinatorConfigurationException">The named endpoint is not among <c>Kestrel:Endpoints</c>.</exception>
    public static WebApplicationBuilder AddAdminEndpoint(this WebApplicationBuilder builder)
    {
        string name = builder.Configuration[EndpointKey] is { Length: > 0 } n ? n : DefaultName;
        var endpoints = builder.Configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e.Key).ToList();
        if (!endpoints.Contains(name, StringComparer.OrdinalIgnoreCase))
            throw new InvalidCoordinatorConfigurationException(
                $"{EndpointKey} is '{name}', but Kestrel:Endpoints defines {(endpoints.Count == 0 ? "no endpoints" : string.Join(", ", endpoints.Select(e => $"'{e}'")))}: the admin API would be unreachable");
        builder.ConfigureEndpoint(name, (endpoint, _) => endpoint.ListenOptions.Use(next => connection =>
        {
            connection.Items[Tag] = name;
            return next(connection);
        }));
        builder.Services.AddSingleton<MatcherPolicy, AdminOnlyMatcherPolicy>();
        return builder;
    }

    /// <summary>Serve these routes on the admin endpoint only.</summary>
    public static TBuilder OnlyOnAdminEndpoint<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(AdminOnlyMetadata.Instance);

    public static bool IsAdminConnection(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(Tag) == true;

    sealed class AdminOnlyMetadata
    {
        public static readonly AdminOnlyMetadata Instance = new();
    }

    /// <summary>Admin-only routes are no candidates on other endpoints, so routing answers 404 as for any unknown path.</summary>
    sealed class AdminOnlyMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
    {
        public override int Order => 0;

        public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) =>
            endpoints.Any(e => e.Metadata.GetMetadata<AdminOnlyMetadata>() is not null);

        public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
        {
            if (IsAdminConnection(httpContext))
                return Task.CompletedTask;
            for (int i = 0; i < candidates.Count; i++)
                if (candidates[i].Endpoint.Metadata.GetMetadata<AdminOnlyMetadata>() is not null)
                    candidates.SetValidity(i, false);
            return Task.CompletedTask;
        }
    }
}

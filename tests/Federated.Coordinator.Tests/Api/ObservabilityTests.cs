using System.Net;

namespace Federated.Coordinator.Tests.Api;

[Collection(CoordinatorCollection.Name)]
public sealed class ObservabilityTests(CoordinatorHost coordinator)
{
    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_endpoints_answer_200_Healthy_once_the_silo_is_up(string path)
    {
        var response = await coordinator.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Metrics_are_served_as_prometheus_text_with_http_and_runtime_instruments()
    {
        await coordinator.Http.GetAsync("/healthz");
        var response = await coordinator.Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        string text = await response.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text);
        Assert.Contains("dotnet_gc_collections_total", text);
        Assert.Contains("service_name=\"federated-coordinator\"", text);
    }
}

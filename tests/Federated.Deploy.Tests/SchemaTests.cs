namespace Federated.Deploy.Tests;

/// <summary>Invalid values are refused by values.schema.json (or the chart's own checks) with a message naming them.</summary>
public class SchemaTests
{
    [Theory]
    [InlineData("--set-string", "coordinator.replicas=two", "/coordinator/replicas", "want integer")]
    [InlineData("--set", "coordinator.replicas=0", "/coordinator/replicas", "minimum")]
    [InlineData("--set", "coordinator.replicaCount=3", "/coordinator", "replicaCount")]
    [InlineData("--set", "unknownKey=1", "", "unknownKey")]
    [InlineData("--set", "redis.mode=cloud", "/redis/mode", "internal")]
    [InlineData("--set", "service.grpc.type=Magic", "/service/grpc/type", "LoadBalancer")]
    [InlineData("--set", "tls.source=vault", "/tls/source", "selfSigned")]
    [InlineData("--set", "coordinator.logLevel=Loud", "/coordinator/logLevel", "Information")]
    [InlineData("--set", "agents.device=tpu", "/agents/device", "cuda")]
    [InlineData("--set", "agents.precision=fp16", "/agents/precision", "bf16")]
    [InlineData("--set", "agents.torchThreads=-2", "/agents/torchThreads", "minimum")]
    [InlineData("--set", "agents.uploadCompression=gzip", "/agents/uploadCompression", "int8")]
    [InlineData("--set", "agents.uploadCompressionFraction=0", "/agents/uploadCompressionFraction", "exclusiveMinimum")]
    [InlineData("--set", "agents.checkpointInterval=5m", "/agents/checkpointInterval", "pattern")]
    [InlineData("--set", "coordinator.siloPort=70000", "/coordinator/siloPort", "maximum")]
    [InlineData("--set", "coordinator.resources.limits=null", "/coordinator/resources", "limits")]
    [InlineData("--set", "redis.mode=external", "/redis/external/address", "minLength")]
    [InlineData("--set", "redis.auth.password=a\\,b", "/redis/auth/password", "pattern")]
    [InlineData("--set", "tls.source=existingSecret", "/tls/existingSecret", "minLength")]
    public void Schema_refuses_invalid_values(string flag, string assignment, string path, string detail)
    {
        var (code, _, stderr) = Helm.Run(["template", Helm.Release, Helm.Chart, flag, assignment]);
        Assert.NotEqual(0, code);
        Assert.Contains("values don't meet the specifications of the schema", stderr);
        Assert.Contains($"at '{path}", stderr);
        Assert.Contains(detail, stderr);

        var (lintCode, lintOut, lintErr) = Helm.Run(["lint", Helm.Chart, flag, assignment]);
        Assert.NotEqual(0, lintCode);
        Assert.Contains($"at '{path}", lintOut + lintErr);
    }

    [Theory]
    [InlineData(new[] { "--set", "coordinator.probes.grpc=true" }, "coordinator.probes.grpc needs tls.enabled=false")]
    [InlineData(new[] { "--set", "tls.source=values" }, "tls.source=values needs tls.certificate and tls.key")]
    [InlineData(new[] { "--set", "agents.enabled=true" }, "agents.enabled needs agents.federationId")]
    [InlineData(new[] { "--set", "ingress.enabled=true" }, "ingress.enabled needs ingress.host")]
    [InlineData(new[] { "--set", "enrollment.tokens[0].federation=demo", "--set", "enrollment.tokens[0].value=short" }, "at least 16")]
    [InlineData(new[] { "--set", "redis.mode=external", "--set", "redis.external.address=r:6379" }, "redis.auth.existingSecret.name or redis.auth.password")]
    public void Contradicting_values_fail_with_a_clear_message(string[] sets, string message)
    {
        var (code, _, stderr) = Helm.Run(["template", Helm.Release, Helm.Chart, .. sets]);
        Assert.NotEqual(0, code);
        Assert.Contains(message, stderr);
    }
}

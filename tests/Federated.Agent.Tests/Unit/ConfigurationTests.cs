using Federated.Agent.Devices;
using Federated.Agent.Hosting;
using Federated.Agent.Rounds;

namespace Federated.Agent.Tests.Unit;

public sealed class ConfigurationTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-config-").FullName;
    readonly string _model, _data;

    public ConfigurationTests()
    {
        _model = TestFiles.TinyModel(Path.Combine(_dir, "model"));
        _data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 2000);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    AgentOptions Valid() => new()
    {
        Coordinator = "http://127.0.0.1:5081", FederationId = "fed", EnrollmentToken = "token-0123456789abcdef",
        StateDirectory = Path.Combine(_dir, "state"), ModelDirectory = _model, Data = _data,
    };

    [Fact]
    public void A_complete_configuration_is_valid()
    {
        Assert.Equal([new Uri("http://127.0.0.1:5081")], AgentOptionsValidation.Validate(Valid(), enrolled: false));
    }

    [Fact]
    public void The_enrollment_token_can_come_from_a_file_and_not_also_from_a_setting()
    {
        string file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "token-from-a-mounted-secret-0123\n");
        var options = Valid();
        options.EnrollmentToken = null;
        options.EnrollmentTokenFile = file;
        AgentOptionsValidation.Validate(options, enrolled: false);
        Assert.Equal("token-from-a-mounted-secret-0123", options.EnrollmentToken);

        var both = Valid();
        both.EnrollmentTokenFile = file;
        Assert.Contains("both set", Assert.Throws<AgentConfigurationException>(() => AgentOptionsValidation.Validate(both, enrolled: false)).Message);
        var missing = Valid();
        missing.EnrollmentToken = null;
        missing.EnrollmentTokenFile = Path.Combine(_dir, "no-such-token");
        Assert.Contains("does not exist", Assert.Throws<AgentConfigurationException>(() => AgentOptionsValidation.Validate(missing, enrolled: false)).Message);
    }

    [Fact]
    public void A_client_certificate_needs_its_key_and_both_must_be_PEM()
    {
        using var ca = new TestCertificateAuthority(_dir, "client-ca");
        var issued = ca.Issue("agent");
        var good = Valid();
        (good.ClientCertificate, good.ClientKey) = (issued.Certificate, issued.Key);
        AgentOptionsValidation.Validate(good, enrolled: false);

        var alone = Valid();
        alone.ClientCertificate = issued.Certificate;
        Assert.Contains("go together", Assert.Throws<AgentConfigurationException>(() => AgentOptionsValidation.Validate(alone, enrolled: false)).Message);
        var swapped = Valid();
        (swapped.ClientCertificate, swapped.ClientKey) = (issued.Key, issued.Certificate);
        Assert.Contains("not a PEM certificate", Assert.Throws<AgentConfigurationException>(() => AgentOptionsValidation.Validate(swapped, enrolled: false)).Message);
    }

    [Fact]
    public void Comma_separated_coordinator_addresses_are_the_silos_of_one_cluster_in_order_and_each_is_checked()
    {
        Assert.Equal([new Uri("http://127.0.0.1:5081"), new Uri("https://coordinator-2.example:443")],
            AgentOptionsValidation.CoordinatorAddresses(" http://127.0.0.1:5081, https://coordinator-2.example:443 ,"));
        var e = Assert.Throws<AgentConfigurationException>(() => AgentOptionsValidation.CoordinatorAddresses("http://127.0.0.1:5081,http://10.0.0.5:5081"));
        Assert.Contains("'http://10.0.0.5:5081' is plaintext to a non-loopback host", e.Message);
    }

    [Fact]
    public void A_connection_with_several_addresses_fails_over_to_the_next_once_per_unreachable_address()
    {
        Uri first = new("http://127.0.0.1:5081"), second = new("http://127.0.0.1:5181");
        using var connection = new Federated.Agent.Remote.CoordinatorConnection([first, second], null);
        Assert.Equal(first, connection.Address);
        Assert.Equal(second, connection.Failover(first));
        Assert.Equal(second, connection.Failover(first)); // a second caller that saw the same failure does not move it back
        Assert.Equal(first, connection.Failover(second));
        using var single = new Federated.Agent.Remote.CoordinatorConnection(first, null);
        Assert.Null(single.Failover(first));
    }

    public static TheoryData<string, string> Mistakes => new()
    {
        { "Coordinator=", "Agent:Coordinator is required" },
        { "Coordinator=ftp://x", "not an http:// or https:// URL" },
        { "Coordinator=http://10.0.0.5:5081", "plaintext to a non-loopback host" },
        { "FederationId=", "Agent:FederationId is required" },
        { "EnrollmentToken=", "Agent:EnrollmentToken is required to enroll" },
        { "ModelDirectory=", "Agent:ModelDirectory is required" },
        { "ModelDirectory=/nonexistent", "is not a model directory" },
        { "Data=", "Agent:Data is required" },
        { "Data=/nonexistent.txt", "Agent:Data: '/nonexistent.txt' does not exist" },
        { "EvalData=/nonexistent.jsonl", "Agent:EvalData" },
        { "Device=tpu", "Agent:Device must be auto, cpu or cuda, not 'tpu'" },
        { "Precision=fp16", "Agent:Precision must be auto, fp32 or bf16, not 'fp16'" },
        { "TorchThreads=-1", "Agent:TorchThreads must be 0" },
        { "MaxSequenceLength=1", "Agent:MaxSequenceLength must be at least 2" },
        { "MaxRank=0", "Agent:MaxRank must be positive" },
        { "MaxAdapterBytes=0", "Agent:MaxAdapterBytes must be at least 1024" },
        { "UploadChunkBytes=2000000", "Agent:UploadChunkBytes must be between 1 and 1048576" },
        { "CaCertificate=/nonexistent.pem", "Agent:CaCertificate" },
        { "CaCertificate=/usr/share/common-licenses/GPL-3", "Agent:CaCertificate: '/usr/share/common-licenses/GPL-3' is not a certificate" },
        { "UploadCompression=gzip", "Agent:UploadCompression must be none, int8, topk or ternary, not 'gzip'" },
        { "UploadCompression=", "Agent:UploadCompression must be none, int8, topk or ternary" },
        { "UploadCompressionFraction=0", "Agent:UploadCompressionFraction must be in (0, 1]" },
        { "UploadCompressionFraction=1.5", "Agent:UploadCompressionFraction must be in (0, 1] (the fraction of each factor sent by topk and ternary), not 1.5" },
        { "UploadCompressionFraction=NaN", "Agent:UploadCompressionFraction must be in (0, 1]" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void Each_mistake_is_one_message_naming_the_setting(string setting, string expected)
    {
        var o = Valid();
        var (key, value) = (setting[..setting.IndexOf('=')], setting[(setting.IndexOf('=') + 1)..]);
        var property = typeof(AgentOptions).GetProperty(key)!;
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        object? parsed = value.Length == 0 ? null : Convert.ChangeType(value, type, System.Globalization.CultureInfo.InvariantCulture);
        property.SetValue(o, parsed);
        var e = Assert.Throws<AgentConfigurationException>(() => AgentOptionsValidation.Validate(o, enrolled: false));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("none", null)]
    [InlineData("NONE", null)]
    [InlineData("int8", "int8")]
    [InlineData(" TopK ", "topk")]
    [InlineData("ternary", "ternary")]
    public void Every_upload_compression_setting_is_valid_and_none_means_float32_uploads(string setting, string? scheme)
    {
        var o = Valid();
        o.UploadCompression = setting;
        o.UploadCompressionFraction = 1;
        AgentOptionsValidation.Validate(o, enrolled: false);
        Assert.Equal(scheme, UploadCompression.FromOptions(o)?.Scheme);
    }

    [Fact]
    public void Uploads_are_float32_unless_compression_is_asked_for()
    {
        Assert.Null(UploadCompression.FromOptions(Valid()));
        Assert.Equal(0.1, Valid().UploadCompressionFraction);
    }

    [Fact]
    public void An_enrolled_agent_needs_no_enrollment_token()
    {
        var o = Valid();
        o.EnrollmentToken = null;
        AgentOptionsValidation.Validate(o, enrolled: true);
    }

    [Fact]
    public void Https_is_accepted_anywhere_and_plaintext_on_every_loopback_form()
    {
        foreach (var url in new[] { "https://coordinator.example:443", "http://localhost:5081", "http://127.0.0.1:5081", "http://[::1]:5081" })
            Assert.Equal(new Uri(url), AgentOptionsValidation.CoordinatorAddress(url));
    }

    [Fact]
    public void Device_detection_on_this_CPU_build_reports_the_cpu_with_no_gpu_memory()
    {
        var auto = DeviceDetector.Detect("auto");
        Assert.Equal("cpu", auto.Kind);
        Assert.Equal(0, auto.GpuMemoryBytes);
        var proto = DeviceDetector.Detect("cpu").ToProto();
        Assert.Equal("cpu", proto.Device);
        Assert.Equal(0, proto.GpuMemoryBytes);
        Assert.False(string.IsNullOrEmpty(proto.AgentVersion));
        if (!TorchSharp.torch.cuda.is_available()) Assert.Throws<ArgumentException>(() => DeviceDetector.Detect("cuda"));
    }

    [Fact]
    public void The_device_description_carries_the_precision_auto_being_fp32_on_the_cpu()
    {
        var auto = DeviceDetector.Detect("cpu");
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, auto.ComputeDtype);
        Assert.Equal("cpu, fp32", auto.ToString());
        var bf16 = DeviceDetector.Detect("cpu", "bf16");
        Assert.Equal(TorchSharp.torch.ScalarType.BFloat16, bf16.ComputeDtype);
        Assert.Equal("cpu, bf16", bf16.ToString());
    }

    [Fact]
    public void The_gpu_name_and_memory_are_read_from_nvidia_smi_output()
    {
        Assert.Equal(("NVIDIA A100-SXM4-40GB", 40960L << 20), DeviceDetector.ParseNvidiaSmi("NVIDIA A100-SXM4-40GB, 40960\nNVIDIA A100-SXM4-40GB, 40960\n"));
        Assert.Null(DeviceDetector.ParseNvidiaSmi("NVIDIA-SMI has failed"));
        Assert.Null(DeviceDetector.ParseNvidiaSmi(""));
    }
}

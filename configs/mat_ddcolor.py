# The winning design of DACON 236420 (1st of 140 teams), end to end (docs/model_zoo.md, mat_ddcolor):
# 1. the constant-fill rule finds the damage; a small U-Net takes over where the rule is unsure
#    (frozen here: its weights come from a run that trained it, e.g. restorekit_default);
# 2. MAT (Li et al., CVPR 2022) with the published Places weights, converted once, frozen, run on
#    the grey image as RGB and averaged over six-way test-time augmentation;
# 3. DDColor-L (Kang et al., "DDColor: Towards Photo-Realistic Image Colorization via Dual
#    Decoders", ICCV 2023) fine-tuned from the released weights (converted once) on the
#    ground-truth photos alone (the grey input made from each photo, so the damaged inputs are
#    never used), with DDColor's recipe: AdamW lr 1e-4, batch 4 per GPU (4 GPUs), L1 on a*b* 0.1
#    + VGG16-bn perceptual 5.0 + GAN 1.0 + colourfulness 0.5, FMix and CutMix (p 0.5), horizontal
#    flips, colour enhancement x1.2 of the target, about 5k iterations; eight-way test-time
#    augmentation at inference:
#   python tools/test.py configs/mat_ddcolor.py work_dirs/mat_ddcolor/iter_5000.pth --tta d4@colorizer
#   (--tta wraps only the colorizer; the inpainter's six-way TTA is part of the config).
# Weight files (docs/pretrained.md says where each comes from and how to convert it); without
# them the build stops and names the missing file:
#   work_dirs/pretrained/mat_places512.pth    python tools/convert_checkpoint.py Places_512_FullData.pkl ...
#   work_dirs/pretrained/ddcolor_paper.pth    python tools/convert_checkpoint.py ddcolor_paper.pth ...
#   work_dirs/pretrained/vgg16_bn-6c64b313.pth  torchvision's ImageNet VGG16-bn state dict (perceptual loss)
#   work_dirs/restorekit_default/iter_200000.pth  a trained detector fallback (its mask_detector.* weights)
# The CPU-sized variant is configs/mat_ddcolor_cpu.py.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
]

ddcolor_weights = 'work_dirs/pretrained/ddcolor_paper.pth'
mat_weights = 'work_dirs/pretrained/mat_places512.pth'
vgg_weights = 'work_dirs/pretrained/vgg16_bn-6c64b313.pth'
detector_weights = 'work_dirs/restorekit_default/iter_200000.pth'
image_size = 512  # DDColor-L's published input size; the team trained at 512

model = dict(
    type='AdversarialRestorer',
    # MAT pads any size itself and DDColor resizes to its input_size: nothing to pad.
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=1),
    mask_detector=dict(
        type='ConstantFillDetector',
        fallback=dict(type='UNetDetector', encoder_name='resnet18', encoder_depth=4,
                      decoder_channels=(128, 64, 32, 16))),
    # MAT from the converted Places weights (the published mat_base, RGB) fed the grey image
    # (RGBInpainterAdapter) and averaged over six flips/rotations at a fixed seed, as in
    # configs/mat_places_tta.py; frozen, so no inpainter losses.
    inpainter=dict(
        type='TestTimeAugmentation',
        transforms='six',
        seed=0,
        model=dict(
            type='RGBInpainterAdapter',
            inpainter=dict(type='MAT', preset='mat_base', in_channels=3))),
    # DDColor-L at its published input size; its eight-way TTA is added at inference (--tta
    # d4@colorizer), so training runs the network once per image.
    colorizer=dict(type='DDColor', size='large', input_size=image_size),
    frozen_stages=['mask_detector', 'inpainter'],
    stage_init=dict(
        mask_detector=detector_weights, inpainter=mat_weights, colorizer=ddcolor_weights),
    detector_losses=[],
    inpainter_losses=[],
    # The undamaged training photos have empty masks: nothing is inpainted.
    train_mask_source='gt',
    colorizer_losses=[
        # DDColor's pixel loss: L1 on a*, b* (Lab units), weight 0.1.
        dict(type='LabChromaL1Loss', loss_weight=0.1),
        # DDColor's perceptual loss: VGG16-bn, conv1_1..conv5_1 before batch norm.
        dict(type='PerceptualLoss', backbone='vgg16_bn',
             layers=('conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'),
             layer_weights=(0.0625, 0.125, 0.25, 0.5, 1.0),
             weights_path=vgg_weights, loss_weight=5.0),
        # Summed over the batch as DDColor does (its 0.5 assumes 4 images per GPU).
        dict(type='ColorfulnessLoss', loss_weight=0.5, reduction='sum'),
    ],
    discriminator=dict(type='DDColorDiscriminator', in_channels=3, base_channels=64),
    gan_loss=dict(type='GANLoss', gan_type='vanilla', loss_weight=1.0),
    adversarial_stage='colorizer',
    conditional_discriminator=False,  # DDColor's critic sees the RGB output alone
)

# DDColor's data: the ground-truth photos of train.csv only, resized (no crop) to 512, mixed with
# two other photos (FMix, CutMix), flipped, the grey input taken from the photo, the colour target
# enhanced x1.2 (docs/data.md, "Training a colorizer on colour photos alone").
train_pipeline = [
    dict(type='LoadImageFromFile', key='gt'),
    dict(type='Resize', scale=(image_size, image_size), keys=('gt_img', )),
    dict(type='LoadImageFromFile', key='partner1', color_type='color', out_key='partner1_img'),
    dict(type='Resize', scale=(image_size, image_size), keys=('partner1_img', )),
    dict(type='LoadImageFromFile', key='partner2', color_type='color', out_key='partner2_img'),
    dict(type='Resize', scale=(image_size, image_size), keys=('partner2_img', )),
    dict(type='FMix', prob=0.5),
    dict(type='CutMix', prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal', keys=('gt_img', )),
    dict(type='ToGray'),
    dict(type='UndamagedInput'),
    dict(type='ColorEnhance', factor=1.2),
    dict(type='PackRestorationInputs'),
]
train_dataloader = dict(
    batch_size=4,  # per GPU; the team used 4 GPUs (tools/dist_train.sh ... 4)
    dataset=dict(gt_only=True, mix_partners=2, pipeline=train_pipeline))
# Validation and test restore the real damaged inputs of the held-out rows (the base's split).

train_cfg = dict(type='IterBasedTrainLoop', max_iters=5_000, val_interval=1_000)
optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    generator=dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.99), weight_decay=0.01)),
    discriminator=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)),
)
param_scheduler = []  # DDColor halves the rate from 80k iterations on: constant within 5k
default_hooks = dict(checkpoint=dict(interval=1_000))
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
